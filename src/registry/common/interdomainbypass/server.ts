/**
 * interdomainbypass (nsmgr-proxy, NSE registry): what this nsmgr-proxy registers or finds in
 * other domains is advertised with its own public URL, so connections go through it.
 * Register remembers `name → the NSE's own URL` and sends the registration with `ownUrl`; the
 * caller gets its URL back. Find remembers `name → the result's URL` (the remote nsmgr-proxy) and
 * hands the result on with `ownUrl`. Unregister forgets. The NetworkService side of the
 * nsmgr-proxy reads the same map to know where a connection for such an NSE goes next.
 * A result whose URL is this nsmgr-proxy itself (`selfUrls`: its public URL before and after the
 * IP swap) is not remembered: the NSE is behind us, and the request path finds it by its name.
 * upstream: sdk pkg/registry/common/interdomainbypass.
 */
import type { NseRegistryElement } from "../../../core/index.js";

export interface InterdomainBypass extends NseRegistryElement {
  /** NSE name → where connections to it go from here */
  readonly urls: ReadonlyMap<string, string>;
}

export function interdomainBypassNseServer(ownUrl: string, selfUrls: readonly string[] = [ownUrl]): InterdomainBypass {
  const urls = new Map<string, string>();
  return {
    urls,
    async register(nse, ctx, next) {
      const orig = nse.url;
      const known = urls.get(nse.name);
      urls.set(nse.name, orig);
      nse.url = ownUrl;
      try {
        const res = await next.register(nse, ctx);
        urls.set(res.name, orig);
        res.url = orig;
        return res;
      } catch (e) {
        if (known === undefined) urls.delete(nse.name);
        else urls.set(nse.name, known);
        throw e;
      }
    },
    async *find(q, ctx, next) {
      for await (const r of next.find(q, ctx)) {
        const nse = r.networkServiceEndpoint;
        if (nse && nse.url && !selfUrls.includes(nse.url)) {
          if (r.deleted) urls.delete(nse.name);
          else urls.set(nse.name, nse.url);
          nse.url = ownUrl;
        }
        yield r;
      }
    },
    async unregister(nse, ctx, next) {
      urls.delete(nse.name);
      nse.url = ownUrl;
      await next.unregister(nse, ctx);
    },
  };
}
