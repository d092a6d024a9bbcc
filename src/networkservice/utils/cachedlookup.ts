/**
 * Registry lookups from a local watch cache, falling back to a live Find when the cache has no
 * match (not synced yet, or an entry registered a moment ago): discovery costs a Map scan, not
 * a round trip, on the request path. `resync()` re-reads the registry (discover calls it when
 * every endpoint the cache named was unreachable).
 *
 * Interdomain queries (`name@domain`, never in the watch cache) are kept per query by
 * interdomainCache, each with its own watch through the other domain; resync drops them too.
 */
import { create, NetworkServiceEndpointResponseSchema, NetworkServiceResponseSchema } from "../../api/index.js";
import type { NseRegistryServer, NsRegistryServer } from "../../core/index.js";
import { nseWatchCache, nsWatchCache } from "../../registry/common/watchcache/cache.js";
import type { Logger } from "../../tools/log.js";
import { isExpired } from "../../registry/match.js";
import { interdomain, NS, NSE } from "../../registry/tools.js";
import { interdomainCache } from "./interdomaincache.js";
import type { RegistryLookup } from "./registry.js";

export function cachedLookup(
  live: { ns: NsRegistryServer; nse: NseRegistryServer },
  o: { signal: AbortSignal; log?: Logger; verifyMs?: number },
): RegistryLookup & { close(): void } {
  const nses = nseWatchCache(live.nse, { signal: o.signal, log: o.log, verifyMs: o.verifyMs });
  const nss = nsWatchCache(live.ns, { signal: o.signal, log: o.log, verifyMs: o.verifyMs });
  const remoteNses = interdomainCache(NSE, live.nse, {
    signal: o.signal,
    log: o.log,
    remote: (q) => [q.name, ...q.networkServiceNames].some(interdomain.is),
    live: (e) => !isExpired(e),
    // an inode:// URL comes with a socket fd that is only good for the answer it came with
    cacheable: (e) => !e.url.startsWith("inode:"),
  });
  const remoteNss = interdomainCache(NS, live.ns, {
    signal: o.signal,
    log: o.log,
    remote: (q) => interdomain.is(q.name),
  });
  // at most one resync every 2 s, and only its caller waits for it: during an outage every heal
  // attempt fails UNAVAILABLE, and none of them should be slowed by listings that cannot help
  let lastAt = -Infinity;
  return {
    ns: {
      async *find(q, ctx) {
        const remote = remoteNss.find(q, ctx);
        if (remote) {
          yield* remote;
          return;
        }
        const hits = q.networkService ? nss.find(q.networkService) : [];
        if (!hits.length || q.watch) {
          yield* live.ns.find(q, ctx);
          return;
        }
        for (const h of hits) yield create(NetworkServiceResponseSchema, { networkService: h });
      },
    },
    nse: {
      async *find(q, ctx) {
        const remote = remoteNses.find(q, ctx);
        if (remote) {
          yield* remote;
          return;
        }
        const hits = q.networkServiceEndpoint ? nses.find(q.networkServiceEndpoint) : [];
        if (!hits.length || q.watch) {
          yield* live.nse.find(q, ctx);
          return;
        }
        for (const h of hits) yield create(NetworkServiceEndpointResponseSchema, { networkServiceEndpoint: h });
      },
    },
    async resync() {
      const dropped = remoteNses.clear() + remoteNss.clear();
      if (Date.now() - lastAt < 2000) return dropped > 0;
      lastAt = Date.now();
      await Promise.all([nses.resync(1500), nss.resync(1500)]);
      return true;
    },
    close() {
      nses.close();
      nss.close();
    },
  };
}
