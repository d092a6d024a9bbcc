/** setpayload: a NetworkService registered without payload gets "IP". upstream: sdk pkg/registry/common/setpayload. */
import type { NetworkService, NetworkServiceQuery, NetworkServiceResponse } from "../../../api/index.js";
import type { RegistryElement } from "../../../core/index.js";

export const DEFAULT_PAYLOAD = "IP";

export function setPayloadNsServer(
  payload = DEFAULT_PAYLOAD,
): RegistryElement<NetworkService, NetworkServiceQuery, NetworkServiceResponse> {
  return {
    async register(ns, ctx, next) {
      if (!ns.payload) ns.payload = payload;
      return next.register(ns, ctx);
    },
  };
}
