/**
 * authorize (registry server; upstream `sdk/pkg/registry/common/authorize`, policy
 * registry/client_allowed): a name belongs to the SPIFFE ID of the caller that first registered
 * it; another caller's Register or Unregister of that name is refused with PermissionDenied
 * naming the rule, before anything after us runs. Network services are not owned: several NSEs
 * of different identities register the same service. The owner is the immediate gRPC caller (an NSE
 * at its nsmgr, the nsmgr at the central registry). Find is not checked. In-process calls pass.
 */
import type {
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse,
} from "../../../api/index.js";
import { authorizationDenied, callerIdentity, type Ctx, type RegistryElement } from "../../../core/index.js";

/** name → owner SPIFFE ID (upstream's resource_path_ids_map, first path id) */
export type RegistryOwners = Map<string, string>;

function element<T extends { name: string }, Q, R>(kind: string, owners: RegistryOwners): RegistryElement<T, Q, R> {
  const check = (e: T, ctx: Ctx, op: string): string | undefined => {
    const caller = callerIdentity(ctx, "registry");
    if (!caller) return undefined;
    const owner = owners.get(e.name);
    if (owner && owner !== caller.id)
      throw authorizationDenied(
        "registry",
        "registry_client_allowed",
        `${caller.id} may not ${op} ${kind} "${e.name}": it belongs to ${owner}`,
      );
    return caller.id;
  };
  return {
    async register(e, ctx, next) {
      const caller = check(e, ctx, "register");
      const res = await next.register(e, ctx);
      if (caller) owners.set(e.name, caller);
      return res;
    },
    async unregister(e, ctx, next) {
      const caller = check(e, ctx, "unregister");
      await next.unregister(e, ctx);
      if (caller) owners.delete(e.name);
    },
  };
}

export function authorizeNseServer(
  owners: RegistryOwners = new Map(),
): RegistryElement<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  return element("NetworkServiceEndpoint", owners);
}
