/**
 * dnsresolve (registry-proxy-dns): a `name@domain` call goes to the registry of `domain`, found
 * through DNS (`registry.nsm-system.<domain>`, SRV + A; see src/tools/dns/resolver.ts), with the domain
 * stripped from every name (NSE name, service names, the keys of its service labels); what comes
 * back gets `@domain` again. NSE Find results also get the URL of the domain's nsmgr-proxy
 * (`nsmgr-proxy.nsm-system.<domain>`) instead of their own, so that callers connect through it
 * (when that lookup fails the result keeps its URL and the failure is logged).
 * The chosen URL goes to later elements in REGISTRY_URL (connect dials it).
 *
 * A domain that resolves to one of `selfUrls` (this server) is refused: the call would come
 * back here. With `localRegistryUrl`, calls without `@domain` go there unchanged.
 * upstream: sdk pkg/registry/common/dnsresolve.
 */
import {
  clone,
  NetworkServiceEndpointSchema,
  NetworkServiceSchema,
  type NetworkService,
  type NetworkServiceEndpoint,
} from "../../../api/index.js";
import { NsmError, status, type Ctx, type NseRegistryElement, type NsRegistryElement } from "../../../core/index.js";
import { NSMGR_PROXY_SERVICE, REGISTRY_SERVICE } from "../../../tools/dns/resolver.js";
import { REGISTRY_URL } from "../../keys.js";
import { interdomain } from "../../tools.js";

export interface DomainResolver {
  resolve(service: string, domain: string, signal?: AbortSignal): Promise<string>;
}

export interface DnsResolveOptions {
  /** our own listen URLs: a domain resolving to one of them is refused */
  selfUrls?: readonly string[];
  /** where calls without @domain go, unchanged (default: they fail "domain cannot be empty", as upstream) */
  localRegistryUrl?: string;
}

const strip = (n: string) => interdomain.target(n);
const join = (n: string, d: string) => (n && d ? `${n}@${d}` : n);

/** Domain of an NSE: the domain of the first interdomain name among its name and service names. */
export function nseDomain(e: Pick<NetworkServiceEndpoint, "name" | "networkServiceNames"> | undefined): string {
  const first = [e?.name ?? "", ...(e?.networkServiceNames ?? [])].find(interdomain.is);
  return first ? interdomain.domain(first) : "";
}

function renameNse(e: NetworkServiceEndpoint, f: (n: string) => string): NetworkServiceEndpoint {
  const out = clone(NetworkServiceEndpointSchema, e);
  out.name = f(out.name);
  out.networkServiceNames = out.networkServiceNames.map(f);
  out.networkServiceLabels = Object.fromEntries(Object.entries(out.networkServiceLabels).map(([k, v]) => [f(k), v]));
  return out;
}
function renameNs(e: NetworkService, f: (n: string) => string): NetworkService {
  const out = clone(NetworkServiceSchema, e);
  out.name = f(out.name);
  return out;
}

async function target(dns: DomainResolver, o: DnsResolveOptions, what: string, domain: string, ctx: Ctx) {
  if (!domain && o.localRegistryUrl) return ctx.withValue(REGISTRY_URL, o.localRegistryUrl);
  if (!domain) throw new NsmError(status.INVALID_ARGUMENT, `${what}: domain cannot be empty`);
  const url = await dns.resolve(REGISTRY_SERVICE, domain, ctx.signal);
  if (o.selfUrls?.includes(url))
    throw new NsmError(
      status.FAILED_PRECONDITION,
      `${what}: domain ${domain} resolves to this registry-proxy-dns itself (${REGISTRY_SERVICE}.${domain} → ${url}); refused`,
    );
  ctx.log.debug({ domain, url }, "dnsresolve: registry of domain");
  return ctx.withValue(REGISTRY_URL, url);
}

export function dnsResolveNseServer(dns: DomainResolver, o: DnsResolveOptions = {}): NseRegistryElement {
  return {
    async register(e, ctx, next) {
      const d = nseDomain(e);
      const c = await target(dns, o, `register NetworkServiceEndpoint ${e.name}`, d, ctx);
      const res = await next.register(renameNse(e, strip), c);
      return renameNse(res, (n) => join(n, d));
    },
    async *find(q, ctx, next) {
      const item = q.networkServiceEndpoint;
      const d = nseDomain(item);
      const c = await target(
        dns,
        o,
        `find NetworkServiceEndpoint ${item?.name || item?.networkServiceNames.join(",") || ""}`,
        d,
        ctx,
      );
      let proxyUrl: string | undefined;
      try {
        if (d) proxyUrl = await dns.resolve(NSMGR_PROXY_SERVICE, d, ctx.signal);
      } catch (err) {
        ctx.log.warn(
          { domain: d, err: (err as Error).message },
          "dnsresolve: no nsmgr-proxy for domain; results keep their URL",
        );
      }
      const query = { ...q, networkServiceEndpoint: item && renameNse(item, strip) };
      for await (const r of next.find(query, c)) {
        if (r.networkServiceEndpoint) {
          r.networkServiceEndpoint = renameNse(r.networkServiceEndpoint, (n) => join(n, d));
          if (proxyUrl) r.networkServiceEndpoint.url = proxyUrl;
        }
        yield r;
      }
    },
    async unregister(e, ctx, next) {
      const d = nseDomain(e);
      const c = await target(dns, o, `unregister NetworkServiceEndpoint ${e.name}`, d, ctx);
      await next.unregister(renameNse(e, strip), c);
    },
  };
}

export function dnsResolveNsServer(dns: DomainResolver, o: DnsResolveOptions = {}): NsRegistryElement {
  const domainOf = (n = "") => (interdomain.is(n) ? interdomain.domain(n) : "");
  return {
    async register(e, ctx, next) {
      const d = domainOf(e.name);
      const c = await target(dns, o, `register NetworkService ${e.name}`, d, ctx);
      return renameNs(await next.register(renameNs(e, strip), c), (n) => join(n, d));
    },
    async *find(q, ctx, next) {
      const item = q.networkService;
      const d = domainOf(item?.name);
      const c = await target(dns, o, `find NetworkService ${item?.name ?? ""}`, d, ctx);
      const query = { ...q, networkService: item && renameNs(item, strip) };
      for await (const r of next.find(query, c)) {
        if (r.networkService) r.networkService = renameNs(r.networkService, (n) => join(n, d));
        yield r;
      }
    },
    async unregister(e, ctx, next) {
      const d = domainOf(e.name);
      const c = await target(dns, o, `unregister NetworkService ${e.name}`, d, ctx);
      await next.unregister(renameNs(e, strip), c);
    },
  };
}
