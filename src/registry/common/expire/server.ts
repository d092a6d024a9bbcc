/**
 * expire: every Register gets `expiration_time` = min(now + period, the one it already carries).
 * With `timers` (nsmgr), an entry that is not re-registered in time is unregistered through the
 * rest of the chain (begin's event factory), so nsmgr tells the remote registry; each Register
 * replaces the timer, Unregister cancels it. Without timers (the registry server) the store
 * element enforces the stored time, which survives restarts and is shared by replicas.
 * upstream: sdk pkg/registry/common/expire (default period 1 min).
 */
import {
  timestampFromMs,
  timestampMs,
  type NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
} from "../../../api/index.js";
import { messageOf, type RegistryElement } from "../../../core/index.js";
import { registryEvents } from "../begin/server.js";

export const DEFAULT_EXPIRE_PERIOD_MS = 60_000;

export interface ExpireOptions {
  /** lifetime of a registration that is not refreshed (ms, default 1 min) */
  periodMs?: number;
  /** unregister through the chain when an entry expires (needs beginNseServer before) */
  timers?: boolean;
  signal?: AbortSignal;
}

export function expireNseServer(o: ExpireOptions = {}): RegistryElement<
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse
> & {
  close(): void;
} {
  const period = o.periodMs ?? DEFAULT_EXPIRE_PERIOD_MS;
  const timers = new Map<string, AbortController>();
  const cancel = (name: string) => {
    timers.get(name)?.abort();
    timers.delete(name);
  };
  o.signal?.addEventListener(
    "abort",
    () => {
      for (const n of [...timers.keys()]) cancel(n);
    },
    { once: true },
  );
  return {
    async register(nse, ctx, next) {
      const limit = Date.now() + period;
      if (!nse.expirationTime || timestampMs(nse.expirationTime) > limit) nse.expirationTime = timestampFromMs(limit);
      const res = await next.register(nse, ctx);
      const events = o.timers ? registryEvents<NetworkServiceEndpoint>(ctx, "server") : undefined;
      if (events && res.expirationTime && !o.signal?.aborted) {
        cancel(res.name);
        const ac = new AbortController();
        timers.set(res.name, ac);
        const t = setTimeout(
          () => {
            if (timers.get(res.name) === ac) timers.delete(res.name);
            events
              .unregister({ signal: ac.signal })
              .catch((err) =>
                ctx.log.warn({ name: res.name, err: messageOf(err) }, "expire: unregister of expired NSE failed"),
              );
          },
          Math.max(0, timestampMs(res.expirationTime) - Date.now()),
        );
        t.unref();
        ac.signal.addEventListener("abort", () => clearTimeout(t), { once: true });
      }
      return res;
    },
    async unregister(nse, ctx, next) {
      cancel(nse.name);
      return next.unregister(nse, ctx);
    },
    close() {
      for (const n of [...timers.keys()]) cancel(n);
    },
  };
}
