/**
 * refresh (NSE client): after each successful Register, re-registers (through begin's event
 * factory, so through retry) at 2/3 of the time left until the returned `expiration_time`.
 * Unregister or the chain's end cancel it. upstream: sdk pkg/registry/common/refresh.
 */
import {
  timestampMs,
  type NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
} from "../../../api/index.js";
import { messageOf, type RegistryElement } from "../../../core/index.js";
import { timersByName } from "../../tools.js";
import { registryEvents } from "../begin/server.js";

export function refreshNseClient(o: {
  signal: AbortSignal;
}): RegistryElement<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  const timers = timersByName(o.signal);
  return {
    async register(nse, ctx, next) {
      const res = await next.register(nse, ctx);
      const events = registryEvents<NetworkServiceEndpoint>(ctx, "client");
      timers.cancel(res.name);
      if (!events || !res.expirationTime || o.signal.aborted) return res;
      const left = timestampMs(res.expirationTime) - Date.now();
      // the refresh's own Register schedules the next one; retry keeps trying until the chain ends
      timers.start(
        res.name,
        Math.max(0, Math.floor((left * 2) / 3)),
        (ac) =>
          void events
            .register({ signal: ac.signal, timeoutMs: Infinity })
            .catch((err) => ctx.log.warn({ name: res.name, err: messageOf(err) }, "registry client: refresh failed")),
      );
      return res;
    },
    async unregister(nse, ctx, next) {
      timers.cancel(nse.name);
      return next.unregister(nse, ctx);
    },
  };
}
