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
import { timersByName } from "../../tools.js";
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
  const timers = timersByName(o.signal);
  return {
    async register(nse, ctx, next) {
      const limit = Date.now() + period;
      if (!nse.expirationTime || timestampMs(nse.expirationTime) > limit) nse.expirationTime = timestampFromMs(limit);
      const res = await next.register(nse, ctx);
      const events = o.timers ? registryEvents<NetworkServiceEndpoint>(ctx, "server") : undefined;
      if (events && res.expirationTime && !o.signal?.aborted) {
        timers.cancel(res.name);
        timers.start(
          res.name,
          Math.max(0, timestampMs(res.expirationTime) - Date.now()),
          (ac) =>
            void events
              .unregister({ signal: ac.signal })
              .catch((err) =>
                ctx.log.warn({ name: res.name, err: messageOf(err) }, "expire: unregister of expired NSE failed"),
              ),
          { forgetOnFire: true },
        );
      }
      return res;
    },
    async unregister(nse, ctx, next) {
      timers.cancel(nse.name);
      return next.unregister(nse, ctx);
    },
    close() {
      timers.cancelAll();
    },
  };
}
