/**
 * The nsmgr-proxy chain (upstream `sdk/pkg/networkservice/chains/nsmgrproxy`): an endpoint that
 * passes connections between domains. interdomainbypass picks the next hop (the remote
 * nsmgr-proxy for an NSE found in another domain; otherwise the request came from another domain
 * and goes to the local NSE, stripped of `@domain`), discover resolves local NSEs in this domain's
 * registry, swapip turns tunnel addresses into external ones on the way across.
 */
import type { IpMap } from "../../tools/mapip.js";
import type { TokenGenerator } from "../../tools/token/index.js";
import { connectServer } from "../common/connect/server.js";
import type { ChannelPool } from "../common/dial/pool.js";
import { discoverServer } from "../common/discover/server.js";
import { interdomainBypassServer, refuseSelfServer } from "../common/interdomainbypass/server.js";
import { roundRobinServer } from "../common/roundrobin/server.js";
import { swapIpClient, swapIpServer } from "../common/swapip/server.js";
import type { RegistryLookup } from "../utils/registry.js";
import { passthroughClient } from "./client.js";
import { endpoint, type Endpoint } from "./endpoint.js";

export interface NsmgrProxyOptions {
  name: string;
  tokens: TokenGenerator;
  signal: AbortSignal;
  /** this domain's registry (NSM_REGISTRY_URL) */
  registry: RegistryLookup;
  /** NSE name → next hop, from the registry side's interdomainbypass */
  urls: ReadonlyMap<string, string>;
  /** URLs that are this nsmgr-proxy */
  selfUrls: readonly string[];
  map: IpMap;
  pool: ChannelPool;
}

export function nsmgrProxy(o: NsmgrProxyOptions): Endpoint {
  return endpoint({
    name: o.name,
    tokens: o.tokens,
    signal: o.signal,
    extra: [
      interdomainBypassServer(o.urls, o.selfUrls),
      discoverServer(o.registry),
      roundRobinServer(),
      refuseSelfServer(o.selfUrls),
      swapIpServer(o.map),
      connectServer(passthroughClient({ name: o.name, tokens: o.tokens, pool: o.pool, extra: [swapIpClient(o.map)] })),
    ],
  });
}
