/**
 * The registry side of nsmgr-proxy (upstream `sdk/pkg/networkservice/chains/nsmgrproxy`, its
 * registry servers): every call goes to registry-proxy-dns (`proxyRegistryUrl`). NSEs this
 * nsmgr-proxy registers or finds in other domains are advertised with its own URL
 * (interdomainbypass, which remembers where they really are: `urls`), and NSE URLs cross
 * domains with external addresses (swapip over the IP map).
 *
 *   const r = nsmgrProxyRegistry({ ownUrl: "tcp://10.0.0.1:5004", proxyRegistryUrl: "tcp://10.0.0.1:5005", map });
 *   await serve(urls, { nseRegistry: r.nse, nsRegistry: r.ns });  // r.urls feeds the request side
 */
import {
  dial,
  nsChain,
  nseChain,
  registryConnectTo,
  type NseRegistryChain,
  type NsRegistryChain,
} from "../../core/index.js";
import type { IpMap } from "../../tools/mapip.js";
import { interdomainBypassNseServer } from "../common/interdomainbypass/server.js";
import { swapIpNseServer, swapUrl } from "../common/swapip/server.js";

export interface NsmgrProxyRegistryOptions {
  /** the nsmgr-proxy's public URL */
  ownUrl: string;
  /** NSM_REGISTRY_PROXY_URL: registry-proxy-dns */
  proxyRegistryUrl: string;
  map: IpMap;
  dialTimeoutMs?: number;
}

export interface NsmgrProxyRegistry {
  readonly nse: NseRegistryChain;
  readonly ns: NsRegistryChain;
  /** NSE name → where connections to it go from here */
  readonly urls: ReadonlyMap<string, string>;
  /** the URLs that are this nsmgr-proxy (own URL before and after the IP swap) */
  readonly selfUrls: readonly string[];
  close(): void;
}

export function nsmgrProxyRegistry(o: NsmgrProxyRegistryOptions): NsmgrProxyRegistry {
  const conn = dial(o.proxyRegistryUrl, { dialTimeoutMs: o.dialTimeoutMs });
  const selfUrls = [...new Set([o.ownUrl, swapUrl(o.ownUrl, o.map)])];
  const bypass = interdomainBypassNseServer(o.ownUrl, selfUrls);
  return {
    nse: nseChain(bypass, swapIpNseServer(o.map), registryConnectTo(conn.nseRegistry)),
    ns: nsChain(registryConnectTo(conn.nsRegistry)),
    urls: bypass.urls,
    selfUrls,
    close: () => conn.close(),
  };
}
