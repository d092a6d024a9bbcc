/**
 * onIdleServer (upstream `sdk/pkg/networkservice/common/onidle`): an endpoint that has had no
 * connection for `timeoutMs` (counted from its start, then from its last Close) calls `onIdle`
 * once (the endpoint stops itself); a Request after that fails with "endpoint expired". A
 * connection that holds its id across refreshes counts once; a failed first Request does not
 * count. `timeoutMs` 0 = never idle.
 *
 *   endpoint({ ..., extra: [onIdleServer({ timeoutMs: 60_000, signal, onIdle: () => stop("idle") }), ...] })
 */
import { NsmError, status, type ServerElement } from "../../../core/index.js";

export interface OnIdleOptions {
  timeoutMs: number;
  onIdle: () => void;
  /** the endpoint's lifetime: ends the timer */
  signal: AbortSignal;
}

export function onIdleServer(o: OnIdleOptions): ServerElement & { readonly expired: boolean } {
  const active = new Set<string>();
  let expired = false;
  let timer: NodeJS.Timeout | undefined;
  const disarm = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  const arm = () => {
    disarm();
    if (!o.timeoutMs || expired || o.signal.aborted || active.size) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (active.size || o.signal.aborted) return;
      expired = true;
      o.onIdle();
    }, o.timeoutMs);
    timer.unref();
  };
  o.signal.addEventListener("abort", disarm, { once: true });
  arm();
  return {
    get expired() {
      return expired;
    },
    async request(req, ctx, next) {
      const id = req.connection!.id;
      if (expired)
        throw new NsmError(status.UNAVAILABLE, `endpoint expired: idle for ${o.timeoutMs} ms (request ${id})`);
      disarm();
      try {
        const conn = await next.request(req, ctx);
        active.add(id);
        return conn;
      } finally {
        arm();
      }
    },
    async close(conn, ctx, next) {
      active.delete(conn.id);
      try {
        return await next.close(conn, ctx);
      } finally {
        arm();
      }
    },
  };
}
