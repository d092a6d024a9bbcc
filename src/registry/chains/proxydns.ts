/**
 * The registry-proxy-dns registry (upstream `sdk/pkg/registry/chains/proxydns`): serves only
 * interdomain names. Each call finds the registry of the name's domain through DNS, goes there
 * with the domain stripped, and comes back with `@domain` re-added (NSE Find results: with the
 * URL of the domain's nsmgr-proxy). Stateless: nothing is stored here.
 *
 *   const p = proxyDnsRegistry({ dns: new DnsResolver({ server: "10.0.0.53" }), signal });
 *   await serve(["tcp://:5005"], { nseRegistry: p.nse, nsRegistry: p.ns });
 *   ...; p.close();
 */
import { nsChain, nseChain, type NseRegistryChain, type NsRegistryChain } from "../../core/index.js";
import { connectRegistryServer } from "../common/connect/server.js";
import { dnsResolveNseServer, dnsResolveNsServer, type DomainResolver } from "../common/dnsresolve/server.js";
import { validateNseServer, validateNsServer } from "../common/validate/server.js";

export interface ProxyDnsRegistryOptions {
  dns: DomainResolver;
  /** our own listen URLs: a domain resolving to them is refused */
  selfUrls?: readonly string[];
  /** where calls without @domain go (default: refused, as upstream) */
  localRegistryUrl?: string;
  dialTimeoutMs?: number;
}

export interface ProxyDnsRegistry {
  readonly nse: NseRegistryChain;
  readonly ns: NsRegistryChain;
  close(): void;
}

export function proxyDnsRegistry(o: ProxyDnsRegistryOptions): ProxyDnsRegistry {
  const connect = connectRegistryServer({ dialTimeoutMs: o.dialTimeoutMs });
  const opts = { selfUrls: o.selfUrls, localRegistryUrl: o.localRegistryUrl };
  return {
    nse: nseChain(validateNseServer(), dnsResolveNseServer(o.dns, opts), connect.nse),
    ns: nsChain(validateNsServer(), dnsResolveNsServer(o.dns, opts), connect.ns),
    close: () => connect.close(),
  };
}
