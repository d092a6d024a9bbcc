/** Test-only: a RegistryLookup over fixed lists, filtering Find queries as the registry does. */
import {
  create,
  NetworkServiceEndpointResponseSchema,
  NetworkServiceResponseSchema,
  type NetworkService,
  type NetworkServiceEndpoint,
} from "../../api/index.js";
import { matchNs, matchNse } from "../../registry/match.js";
import type { RegistryLookup } from "./registry.js";

export function fixedRegistry(nss: NetworkService[], nses: NetworkServiceEndpoint[]): RegistryLookup {
  return {
    ns: {
      async *find(q) {
        for (const ns of nss)
          if (matchNs(q.networkService!, ns)) yield create(NetworkServiceResponseSchema, { networkService: ns });
      },
    },
    nse: {
      async *find(q) {
        for (const nse of nses)
          if (matchNse(q.networkServiceEndpoint!, nse))
            yield create(NetworkServiceEndpointResponseSchema, { networkServiceEndpoint: nse });
      },
    },
  };
}
