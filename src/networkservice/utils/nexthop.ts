/**
 * The next hop's MonitorConnection stream for one connection, as client elements that follow
 * what the next hop says about our connection open it (heal and upstreamrefresh instead share one
 * stream per next hop: monitorhub.ts, one set of hubs per client in chains/client.ts).
 *
 *   const hop = nextHopWatch(ctx, conn); // after dial has set CLIENT_CONN; undefined without one
 *   if (hop) for await (const ev of hop.events(signal)) if (hop.mine(c)) ...
 */
import {
  create,
  MonitorScopeSelectorSchema,
  PathSegmentSchema,
  type Connection,
  type ConnectionEvent,
  type PathSegment,
} from "../../api/index.js";
import { newCtx, type Ctx } from "../../core/index.js";
import { CLIENT_CONN } from "./keys.js";

export interface NextHopWatch {
  /** our index in the connection's path */
  readonly idx: number;
  /** our segment (the one the selector asks the next hop for) */
  readonly seg: PathSegment;
  /** true when `c` (from an event) is our connection: our segment at our index */
  mine(c: Connection): boolean;
  /** the next hop's events for our segment until `signal` aborts or the stream ends; throws when it breaks */
  events(signal: AbortSignal): AsyncIterable<ConnectionEvent>;
}

/** the next hop dialled for this connection (dial's CLIENT_CONN), undefined in chains without one */
export function clientConnOf(ctx: Ctx) {
  try {
    return ctx.clientMeta.get(CLIENT_CONN);
  } catch {
    return undefined; // no client metadata in this chain
  }
}

/**
 * The watch of `conn` (as the chain below returned it) on the next hop dialled for this
 * connection; undefined when no next hop was dialled (no clientconn metadata) or the connection
 * has no segment at its index.
 */
export function nextHopWatch(ctx: Ctx, conn: Connection): NextHopWatch | undefined {
  const cc = clientConnOf(ctx);
  const idx = conn.path?.index ?? 0;
  const seg = conn.path?.pathSegments[idx];
  if (!cc || !seg) return undefined;
  const monitor = cc.monitor;
  const log = ctx.log;
  const sel = create(MonitorScopeSelectorSchema, {
    pathSegments: [create(PathSegmentSchema, { id: seg.id, name: seg.name })],
  });
  return {
    idx,
    seg,
    mine: (c) => c.path?.pathSegments[idx]?.id === seg.id,
    events: (signal) => monitor.monitorConnections(sel, newCtx({ signal, log })),
  };
}
