/**
 * validate: rejects registrations the registry must not store, with InvalidArgument naming the
 * field and the value: empty `name`, missing or unparseable NSE `url` (unix:///abs, tcp://host:port,
 * or another scheme://… such as inode://), `expiration_time` already in the past, an NS
 * `payload` other than IP/ETHERNET. Nothing after it runs for a rejected entry.
 * upstream has no such element (it stores what it gets); the issue asks for this.
 */
import {
  timestampDate,
  type NetworkService,
  type NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
  type NetworkServiceQuery,
  type NetworkServiceResponse,
} from "../../../api/index.js";
import { NsmError, type RegistryElement, status } from "../../../core/index.js";
import { checkNseUrl } from "../../tools.js";

const bad = (msg: string) => new NsmError(status.INVALID_ARGUMENT, msg);

export { checkNseUrl };

export function validateNseServer(): RegistryElement<
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse
> {
  return {
    async register(nse, ctx, next) {
      if (!nse.name) throw bad("NetworkServiceEndpoint.name must not be empty");
      checkNseUrl(nse.url, `NetworkServiceEndpoint "${nse.name}" url`);
      if (nse.expirationTime) {
        const at = timestampDate(nse.expirationTime);
        if (at.getTime() <= Date.now())
          throw bad(`NetworkServiceEndpoint "${nse.name}" expiration_time ${at.toISOString()} is in the past`);
      }
      for (const s of nse.networkServiceNames)
        if (!s) throw bad(`NetworkServiceEndpoint "${nse.name}" network_service_names has an empty name`);
      return next.register(nse, ctx);
    },
    async unregister(nse, ctx, next) {
      if (!nse.name) throw bad("NetworkServiceEndpoint.name must not be empty");
      return next.unregister(nse, ctx);
    },
  };
}

export function validateNsServer(): RegistryElement<NetworkService, NetworkServiceQuery, NetworkServiceResponse> {
  return {
    async register(ns, ctx, next) {
      if (!ns.name) throw bad("NetworkService.name must not be empty");
      if (ns.payload && ns.payload !== "IP" && ns.payload !== "ETHERNET")
        throw bad(`NetworkService "${ns.name}" payload "${ns.payload}" is not IP or ETHERNET`);
      return next.register(ns, ctx);
    },
    async unregister(ns, ctx, next) {
      if (!ns.name) throw bad("NetworkService.name must not be empty");
      return next.unregister(ns, ctx);
    },
  };
}
