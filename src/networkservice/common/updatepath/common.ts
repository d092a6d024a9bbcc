/** The updatepath algorithm shared by server and client (upstream
 * `sdk/pkg/networkservice/common/updatepath`; docs/controlplane.md "Path"). */
import { randomUUID } from "node:crypto";
import { create, PathSchema, PathSegmentSchema, type Connection } from "../../../api/index.js";
import { NsmError, status } from "../../../core/index.js";

/**
 * Moves `conn` to our segment (named `name`), appending one if needed; returns the index the
 * caller had, which the element restores on the way back.
 */
export function updatePath(conn: Connection, name: string): number {
  if (!conn.path || conn.path.pathSegments.length === 0) {
    if (!conn.id) conn.id = randomUUID();
    conn.path = create(PathSchema, { index: 0, pathSegments: [create(PathSegmentSchema, { name, id: conn.id })] });
    return 0;
  }
  const p = conn.path;
  const segs = p.pathSegments;
  if (segs[p.index]?.name === name) {
    conn.id = segs[p.index]!.id;
    return p.index;
  }
  if (p.index + 1 > segs.length) {
    throw new NsmError(
      status.INVALID_ARGUMENT,
      `Path.Index+1==${p.index + 1} should be less or equal len(Path.PathSegments)==${segs.length}`,
    );
  }
  if (segs[p.index]!.id !== conn.id) {
    throw new NsmError(
      status.INVALID_ARGUMENT,
      `Current PathSegment.Id==${segs[p.index]!.id} should be equal Connection.Id==${conn.id}`,
    );
  }
  const prev = p.index;
  const nextSeg = segs[prev + 1];
  if (nextSeg && nextSeg.name !== name) {
    nextSeg.name = name;
    nextSeg.id = randomUUID();
    nextSeg.token = "";
    nextSeg.expires = undefined;
  }
  p.index = prev + 1;
  if (!segs[p.index]) {
    const id = randomUUID();
    segs.push(create(PathSegmentSchema, { name, id }));
    conn.id = id;
  } else {
    conn.id = segs[p.index]!.id;
  }
  return prev;
}

/** Puts the caller's view back: its index and its own id. */
export function restorePath(conn: Connection, index: number): Connection {
  const seg = conn.path?.pathSegments[index];
  if (conn.path && seg) {
    conn.path.index = index;
    conn.id = seg.id;
  }
  return conn;
}
