/**
 * refreshClient: re-requests the connection before any token on its path expires, at
 * `min(expires − now) × scale` with scale 1/3 for a one-segment path, else
 * `0.2 + 0.2 × index / segments` (the NSC at index 0 refreshes after 20% of the shortest
 * lifetime). A failed refresh is retried every 200 ms until it succeeds or the connection closes.
 */
import type { Connection } from "../../../api/index.js";
import { eventFactory, messageOf, metaKey, Timers, type ClientElement, type TimerHandle } from "../../../core/index.js";
import { minExpiry } from "../../utils/path.js";

const TIMER = metaKey<TimerHandle>("refresh/timer");

/** Delay in ms before refreshing `conn` (exported for tests). */
export function refreshDelay(conn: Connection, now = Date.now()): number {
  const exp = minExpiry(conn);
  if (exp === undefined || exp <= now) return 0;
  const n = conn.path?.pathSegments.length ?? 0;
  const scale = n <= 1 ? 1 / 3 : 0.2 + (0.2 * (conn.path?.index ?? 0)) / n;
  return Math.floor((exp - now) * scale);
}

export interface RefreshOptions {
  /** retry period after a failed refresh (default 200 ms) */ retryMs?: number;
}

export function refreshClient(lifetime: AbortSignal, o: RefreshOptions = {}): ClientElement {
  const retryMs = o.retryMs ?? 200;
  // one lifetime listener for all connections' timers
  const timers = new Timers(lifetime);
  return {
    async request(req, ctx, next) {
      const conn = await next.request(req, ctx);
      // cancelled only after success: a failed refresh keeps the old timer (and its retries) going
      ctx.clientMeta.get(TIMER)?.cancel();
      const events = eventFactory(ctx, "client");
      if (!events || lifetime.aborted) return conn;
      const log = ctx.log;
      ctx.clientMeta.set(
        TIMER,
        timers.after(refreshDelay(conn), function fire(h) {
          events.request({ signal: h }).catch((e: unknown) => {
            if (h.aborted) return;
            log.warn({ connId: events.id, err: messageOf(e) }, `refresh failed, retrying in ${retryMs} ms`);
            h.restart(retryMs);
          });
        }),
      );
      return conn;
    },
    async close(conn, ctx, next) {
      ctx.clientMeta.get(TIMER)?.cancel();
      ctx.clientMeta.delete(TIMER);
      return next.close(conn, ctx);
    },
  };
}
