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

/** a custom policy (NSM_REGISTRY_SERVER_POLICIES, src/tools/opa): true = allowed */
export interface RegistryPolicy {
  readonly name: string;
  evaluate(input: unknown): Promise<boolean>;
}

function element<T extends { name: string }, Q, R>(
  kind: string,
  owners: RegistryOwners,
  custom: readonly RegistryPolicy[],
): RegistryElement<T, Q, R> {
  const check = async (e: T, ctx: Ctx, op: string): Promise<string | undefined> => {
    const caller = callerIdentity(ctx, "registry");
    if (!caller) return undefined;
    const owner = owners.get(e.name);
    if (owner && owner !== caller.id)
      throw authorizationDenied(
        "registry",
        "registry_client_allowed",
        `${caller.id} may not ${op} ${kind} "${e.name}": it belongs to ${owner}`,
      );
    // upstream's registry policy input (resource_id = who asks, resource_path_ids_map = owners)
    const input = {
      resource_id: caller.id,
      resource_name: e.name,
      resource_path_ids_map: Object.fromEntries([...owners].map(([k, v]) => [k, [v]])),
      path_segments: [],
      index: 0,
      method: op,
    };
    for (const p of custom)
      if (!(await p.evaluate(input)))
        throw authorizationDenied("registry", p.name, `policy is not satisfied for ${caller.id} (${op} "${e.name}")`);
    return caller.id;
  };
  return {
    async register(e, ctx, next) {
      const caller = await check(e, ctx, "register");
      const res = await next.register(e, ctx);
      if (caller) owners.set(e.name, caller);
      return res;
    },
    async unregister(e, ctx, next) {
      const caller = await check(e, ctx, "unregister");
      await next.unregister(e, ctx);
      if (caller) owners.delete(e.name);
    },
  };
}

export function authorizeNseServer(
  o: { owners?: RegistryOwners; custom?: readonly RegistryPolicy[] } = {},
): RegistryElement<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  return element("NetworkServiceEndpoint", o.owners ?? new Map(), o.custom ?? []);
}
