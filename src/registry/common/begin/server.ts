/** Server-side begin for both registries: per-name serialisation + Register/Unregister events. */
import type {
  NetworkService,
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse,
  NetworkServiceQuery,
  NetworkServiceResponse,
} from "../../../api/index.js";
import { NS, NSE } from "../../tools.js";
import { type BeginElement, registryBegin } from "./begin.js";

export { registryEvents, type RegistryEvents, type RegistryEventOptions } from "./begin.js";

export function beginNseServer(
  o: { signal?: AbortSignal } = {},
): BeginElement<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  return registryBegin("server", NSE, o);
}
export function beginNsServer(
  o: { signal?: AbortSignal } = {},
): BeginElement<NetworkService, NetworkServiceQuery, NetworkServiceResponse> {
  return registryBegin("server", NS, o);
}
