/** Connection path helpers (upstream `api/pkg/api/networkservice/connection_helpers.go`) and monitor
 * selector matching (upstream `sdk/pkg/networkservice/common/monitor`). */
import type { Connection, MonitorScopeSelector, PathSegment } from "../../api/index.js";
import { timestampMs } from "../../api/index.js";

export function currentSegment(c: Connection | undefined): PathSegment | undefined {
  const p = c?.path;
  return p ? p.pathSegments[p.index] : undefined;
}
export function prevSegment(c: Connection | undefined): PathSegment | undefined {
  const p = c?.path;
  return p && p.index > 0 ? p.pathSegments[p.index - 1] : undefined;
}
export function nextSegment(c: Connection | undefined): PathSegment | undefined {
  const p = c?.path;
  return p ? p.pathSegments[p.index + 1] : undefined;
}

/** ms since the epoch of the earliest `expires` over all segments; undefined if none has one. */
export function minExpiry(c: Connection | undefined): number | undefined {
  let min: number | undefined;
  for (const s of c?.path?.pathSegments ?? []) {
    if (!s.expires) continue;
    const t = timestampMs(s.expires);
    if (min === undefined || t < min) min = t;
  }
  return min;
}

/** Upstream MonitorScopeSelector matching: services must contain the connection's; segments match a contiguous window. */
export function matchesSelector(sel: MonitorScopeSelector, c: Connection): boolean {
  if (sel.networkServices.length && !sel.networkServices.includes(c.networkService)) return false;
  const want = sel.pathSegments;
  if (!want.length) return true;
  const have = c.path?.pathSegments ?? [];
  const eq = (w: PathSegment, h: PathSegment) =>
    (!w.name || w.name === h.name) && (!w.id || w.id === h.id) && (!w.token || w.token === h.token);
  for (let i = 0; i + want.length <= have.length; i++) {
    if (want.every((w, j) => eq(w, have[i + j]!))) return true;
  }
  return false;
}

/** Labels as `{k=v, ...}` for error messages. */
export function fmtLabels(l: Readonly<Record<string, string>>): string {
  const e = Object.entries(l);
  return e.length ? `{${e.map(([k, v]) => `${k}=${v}`).join(", ")}}` : "{}";
}
