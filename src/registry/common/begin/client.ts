/** Client-side begin for both registries: per-name serialisation + events for refresh and heal. */
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

export function beginNseClient(
  o: { signal?: AbortSignal } = {},
): BeginElement<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  return registryBegin("client", NSE, o);
}
export function beginNsClient(
  o: { signal?: AbortSignal } = {},
): BeginElement<NetworkService, NetworkServiceQuery, NetworkServiceResponse> {
  return registryBegin("client", NS, o);
}
