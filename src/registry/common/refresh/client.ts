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
import { registryEvents } from "../begin/server.js";

export function refreshNseClient(o: {
  signal: AbortSignal;
}): RegistryElement<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  const timers = new Map<string, AbortController>();
  const cancel = (name: string) => {
    timers.get(name)?.abort();
    timers.delete(name);
  };
  o.signal.addEventListener(
    "abort",
    () => {
      for (const n of [...timers.keys()]) cancel(n);
    },
    { once: true },
  );
  return {
    async register(nse, ctx, next) {
      const res = await next.register(nse, ctx);
      const events = registryEvents<NetworkServiceEndpoint>(ctx, "client");
      cancel(res.name);
      if (!events || !res.expirationTime || o.signal.aborted) return res;
      const ac = new AbortController();
      timers.set(res.name, ac);
      const left = timestampMs(res.expirationTime) - Date.now();
      const t = setTimeout(
        () => {
          // the refresh's own Register schedules the next one; retry keeps trying until the chain ends
          events
            .register({ signal: ac.signal, timeoutMs: Infinity })
            .catch((err) => ctx.log.warn({ name: res.name, err: messageOf(err) }, "registry client: refresh failed"));
        },
        Math.max(0, Math.floor((left * 2) / 3)),
      );
      t.unref();
      ac.signal.addEventListener("abort", () => clearTimeout(t), { once: true });
      return res;
    },
    async unregister(nse, ctx, next) {
      cancel(nse.name);
      return next.unregister(nse, ctx);
    },
  };
}
