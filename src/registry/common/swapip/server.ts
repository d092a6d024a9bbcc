/**
 * swapip (nsmgr-proxy, NSE registry): the host of an NSE URL that the IP map names is replaced by
 * its external address (port kept), on the way out (Register, Unregister, the Find query) and on
 * the way back (Register answer, Find results), so other domains only see addresses they can
 * reach. The map is read at each call (it reloads by itself). upstream: sdk pkg/registry/common/swapip.
 */
import { isIP } from "node:net";
import type { NseRegistryElement } from "../../../core/index.js";
import type { IpMap } from "../../../tools/mapip.js";

/** `url` with its host IP swapped through `map` (unchanged when it has no IP host or no entry). */
export function swapUrl(url: string, map: IpMap): string {
  const m = /^([a-z]+:\/\/)(\[[^\]]+\]|[^/:]+)(.*)$/.exec(url);
  if (!m) return url;
  const host = m[2]!.replace(/^\[|\]$/g, "");
  if (isIP(host) === 0) return url;
  const to = map.get(host);
  if (to === host) return url;
  return `${m[1]}${isIP(to) === 6 ? `[${to}]` : to}${m[3]}`;
}

export function swapIpNseServer(map: IpMap): NseRegistryElement {
  return {
    async register(nse, ctx, next) {
      nse.url = swapUrl(nse.url, map);
      const res = await next.register(nse, ctx);
      res.url = swapUrl(res.url, map);
      return res;
    },
    async *find(q, ctx, next) {
      const item = q.networkServiceEndpoint;
      if (item?.url) item.url = swapUrl(item.url, map);
      for await (const r of next.find(q, ctx)) {
        if (r.networkServiceEndpoint) r.networkServiceEndpoint.url = swapUrl(r.networkServiceEndpoint.url, map);
        yield r;
      }
    },
    async unregister(nse, ctx, next) {
      nse.url = swapUrl(nse.url, map);
      await next.unregister(nse, ctx);
    },
  };
}
