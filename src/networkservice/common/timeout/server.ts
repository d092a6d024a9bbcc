/**
 * timeoutServer: a connection whose caller stops refreshing is closed (through the rest of the
 * chain, so downstream hops and monitors see it) shortly before the caller's token expires: at
 * `previous segment expires − the request's deadline budget`.
 */
import { timestampMs } from "../../../api/index.js";
import { eventFactory, metaKey, NsmError, status, type ServerElement } from "../../../core/index.js";
import { prevSegment } from "../../utils/path.js";

const TIMER = metaKey<AbortController>("timeout/timer");

export function timeoutServer(lifetime: AbortSignal): ServerElement {
  return {
    async request(req, ctx, next) {
      const arrived = Date.now();
      const budget = Number.isFinite(ctx.deadline) ? Math.max(0, ctx.deadline - arrived) : 0;
      const conn = await next.request(req, ctx);
      const prev = prevSegment(conn);
      if (!prev?.expires) {
        throw new NsmError(status.INVALID_ARGUMENT, `timeout: expiration for the previous path segment cannot be nil (connection ${conn.id})`);
      }
      const events = eventFactory(ctx);
      ctx.meta.get(TIMER)?.abort();
      if (!events) return conn;
      const ac = new AbortController();
      ctx.meta.set(TIMER, ac);
      const delay = Math.max(0, timestampMs(prev.expires) - Date.now() - budget);
      const onLife = () => ac.abort();
      lifetime.addEventListener("abort", onLife, { once: true });
      const t = setTimeout(() => {
        ctx.log.debug({ connId: conn.id, afterMs: delay }, "timeout: caller stopped refreshing, closing");
        events.close({ signal: ac.signal }).catch((e: unknown) => ctx.log.warn({ connId: conn.id, err: String(e) }, "timeout: close failed"));
      }, delay);

      ac.signal.addEventListener("abort", () => { clearTimeout(t); lifetime.removeEventListener("abort", onLife); }, { once: true });
      return conn;
    },
    async close(conn, ctx, next) {
      ctx.meta.get(TIMER)?.abort();
      ctx.meta.delete(TIMER);
      return next.close(conn, ctx);
    },
  };
}
