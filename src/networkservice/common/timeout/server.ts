/**
 * timeoutServer: a connection whose caller stops refreshing is closed (through the rest of the
 * chain, so downstream hops and monitors see it) shortly before the caller's token expires: at
 * `previous segment expires − the request's deadline budget`.
 */
import { timestampMs } from "../../../api/index.js";
import {
  eventFactory,
  metaKey,
  NsmError,
  status,
  Timers,
  type ServerElement,
  type TimerHandle,
} from "../../../core/index.js";
import { prevSegment } from "../../utils/path.js";

const TIMER = metaKey<TimerHandle>("timeout/timer");

export function timeoutServer(lifetime: AbortSignal): ServerElement {
  // one lifetime listener for all connections' timers
  const timers = new Timers(lifetime);
  return {
    async request(req, ctx, next) {
      const arrived = Date.now();
      const budget = Number.isFinite(ctx.deadline) ? Math.max(0, ctx.deadline - arrived) : 0;
      const conn = await next.request(req, ctx);
      const prev = prevSegment(conn);
      if (!prev?.expires) {
        throw new NsmError(
          status.INVALID_ARGUMENT,
          `timeout: expiration for the previous path segment cannot be nil (connection ${conn.id})`,
        );
      }
      const events = eventFactory(ctx);
      ctx.meta.get(TIMER)?.cancel();
      if (!events) return conn;
      const delay = Math.max(0, timestampMs(prev.expires) - Date.now() - budget);
      const log = ctx.log;
      ctx.meta.set(
        TIMER,
        timers.after(delay, (h) => {
          log.debug({ connId: conn.id, afterMs: delay }, "timeout: caller stopped refreshing, closing");
          events
            .close({ signal: h })
            .catch((e: unknown) => log.warn({ connId: conn.id, err: String(e) }, "timeout: close failed"));
        }),
      );
      return conn;
    },
    async close(conn, ctx, next) {
      ctx.meta.get(TIMER)?.cancel();
      ctx.meta.delete(TIMER);
      return next.close(conn, ctx);
    },
  };
}
