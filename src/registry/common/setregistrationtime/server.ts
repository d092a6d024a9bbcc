/**
 * setregistrationtime: `initial_registration_time` is now on the first Register of a name and
 * stays the same on refreshes (kept from the entry the client sends back, or remembered here);
 * forgotten on Unregister. upstream: sdk pkg/registry/common/setregistrationtime.
 */
import {
  timestampNow,
  type NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
  type Timestamp,
} from "../../../api/index.js";
import type { RegistryElement } from "../../../core/index.js";

export function setRegistrationTimeNseServer(): RegistryElement<
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse
> {
  const first = new Map<string, Timestamp>();
  return {
    async register(nse, ctx, next) {
      const known = first.get(nse.name);
      nse.initialRegistrationTime = known ?? nse.initialRegistrationTime ?? timestampNow();
      const res = await next.register(nse, ctx);
      if (res.initialRegistrationTime) first.set(res.name, res.initialRegistrationTime);
      return res;
    },
    async unregister(nse, ctx, next) {
      first.delete(nse.name);
      return next.unregister(nse, ctx);
    },
  };
}
