/** Small registry lookups for NetworkService elements (non-watch Find read to the end). */
import {
  create,
  NetworkServiceEndpointQuerySchema,
  NetworkServiceQuerySchema,
  type NetworkService,
  type NetworkServiceEndpoint,
  type MessageInitShape,
  NetworkServiceEndpointSchema,
} from "../../api/index.js";
import type { Ctx, NseRegistryServer, NsRegistryServer } from "../../core/index.js";

/** What discovery needs of the registries: Find on each (a watch cache, a remote, or an in-process chain). */
export interface RegistryLookup {
  readonly ns: Pick<NsRegistryServer, "find">;
  readonly nse: Pick<NseRegistryServer, "find">;
  /** a cached lookup: re-read the registry now; false when it did not (one was done moments ago) */
  resync?(): Promise<boolean>;
}

/**
 * The NetworkService `name`, queried by name and payload as upstream's discover does (an empty
 * payload matches any); only an exact name match counts.
 */
export async function findNs(
  r: RegistryLookup,
  name: string,
  ctx: Ctx,
  payload = "",
): Promise<NetworkService | undefined> {
  const q = create(NetworkServiceQuerySchema, { networkService: { name, payload } });
  for await (const x of r.ns.find(q, ctx)) {
    if (!x.deleted && x.networkService?.name === name) return x.networkService;
  }
  return undefined;
}

export async function findNses(
  r: RegistryLookup,
  item: MessageInitShape<typeof NetworkServiceEndpointSchema>,
  ctx: Ctx,
): Promise<NetworkServiceEndpoint[]> {
  const q = create(NetworkServiceEndpointQuerySchema, { networkServiceEndpoint: item });
  const out: NetworkServiceEndpoint[] = [];
  for await (const x of r.nse.find(q, ctx))
    if (!x.deleted && x.networkServiceEndpoint) out.push(x.networkServiceEndpoint);
  return out;
}
