/**
 * A local copy of a registry kept current by one watch Find, so lookups (nsmgr discovery) are
 * a Map scan instead of a remote Find per Request. The watch re-opens by itself when it breaks;
 * after each (re)connect a non-watch Find reconciles what changed while it was down (entries
 * deleted meanwhile never get a `deleted` event). NSEs past `expiration_time` are skipped at
 * lookup (as upstream `sdk/pkg/networkservice/common/discover` drops them).
 *
 *   const cache = nseWatchCache(nsmgrRegistry.nse, { signal });
 *   await cache.synced;
 *   const nses = cache.find(nseQuery({ networkServiceNames: ["icmp"] }).networkServiceEndpoint!);
 */
import { type NetworkService, type NetworkServiceEndpoint } from "../../../api/index.js";
import {
  messageOf,
  newCtx,
  type NseRegistryServer,
  type NsRegistryServer,
  type RegistryServer,
} from "../../../core/index.js";
import { type Logger, silentLogger } from "../../../tools/log.js";
import { isExpired } from "../../match.js";
import { type Kind, NS, NSE, sleep } from "../../tools.js";

export interface WatchCacheOptions<T> {
  signal: AbortSignal;
  log?: Logger;
  /** what to mirror (default: everything) */
  query?: T;
  /** ms between reconnect attempts (default 200) */
  retryMs?: number;
}

export interface WatchCache<T> {
  /** the cached entries matching `query` (a template, as Find), live ones only */
  find(query?: T): T[];
  get(name: string): T | undefined;
  /** resolves after the first complete load (never rejects; waits until the registry answers) */
  readonly synced: Promise<void>;
  readonly size: number;
  /** calls `fn` after every change applied to the cache */
  onChange(fn: (name: string, item: T | undefined) => void): () => void;
  close(): void;
}

function watchCache<T, Q, R>(
  kind: Kind<T, Q, R>,
  server: RegistryServer<T, Q, R>,
  o: WatchCacheOptions<T>,
  live: (v: T) => boolean,
): WatchCache<T> {
  const log = o.log ?? silentLogger;
  const items = new Map<string, T>();
  const listeners = new Set<(name: string, item: T | undefined) => void>();
  const ac = new AbortController();
  const stop = () => ac.abort();
  o.signal.addEventListener("abort", stop, { once: true });
  let markSynced!: () => void;
  const synced = new Promise<void>((r) => {
    markSynced = r;
  });
  const template = o.query ?? kind.fromName("");

  const set = (name: string, item: T | undefined) => {
    if (item === undefined) {
      if (!items.delete(name)) return;
    } else items.set(name, item);
    for (const fn of [...listeners]) {
      try {
        fn(name, item);
      } catch (e) {
        log.error({ err: messageOf(e) }, "watch cache: listener failed");
      }
    }
  };

  async function run() {
    while (!ac.signal.aborted) {
      const conn = new AbortController();
      const ctx = newCtx({ signal: AbortSignal.any([ac.signal, conn.signal]), log });
      const touched = new Set<string>();
      let listing = false;
      const watching = (async () => {
        for await (const r of server.find(kind.makeQuery(template, true), ctx)) {
          const { item, deleted } = kind.itemOf(r);
          if (!item) continue;
          const name = kind.nameOf(item);
          if (listing) touched.add(name);
          set(name, deleted ? undefined : item);
        }
      })();
      watching.catch(() => {}); // awaited below; this only keeps an early failure from counting as unhandled
      try {
        // reconcile: the listed snapshot wins for names the watch did not touch since it began
        listing = true;
        const seen = new Map<string, T>();
        for await (const r of server.find(
          kind.makeQuery(template, false),
          newCtx({ signal: ctx.signal, timeoutMs: 15_000, log }),
        )) {
          const { item, deleted } = kind.itemOf(r);
          if (item && !deleted) seen.set(kind.nameOf(item), item);
        }
        listing = false;
        for (const name of [...items.keys()]) if (!seen.has(name) && !touched.has(name)) set(name, undefined);
        for (const [name, item] of seen) if (!touched.has(name) && !items.has(name)) set(name, item);
        markSynced();
        await watching;
        if (!ac.signal.aborted) log.debug("watch cache: watch ended, reconnecting");
      } catch (err) {
        if (!ac.signal.aborted) log.debug({ err: messageOf(err) }, "watch cache: watch broke, reconnecting");
      } finally {
        conn.abort();
        await watching.catch(() => {});
      }
      await sleep(o.retryMs ?? 200, ac.signal);
    }
  }
  void run();

  return {
    find(query) {
      const out: T[] = [];
      for (const v of items.values()) if (live(v) && kind.matches(query, v)) out.push(v);
      return out;
    },
    get: (name) => {
      const v = items.get(name);
      return v && live(v) ? v : undefined;
    },
    synced,
    get size() {
      return items.size;
    },
    onChange(fn) {
      listeners.add(fn);
      return () => {
        listeners.delete(fn);
      };
    },
    close() {
      o.signal.removeEventListener("abort", stop);
      ac.abort();
    },
  };
}

export function nseWatchCache(
  server: NseRegistryServer,
  o: WatchCacheOptions<NetworkServiceEndpoint>,
): WatchCache<NetworkServiceEndpoint> {
  return watchCache(NSE, server, o, (v) => !isExpired(v));
}

export function nsWatchCache(
  server: NsRegistryServer,
  o: WatchCacheOptions<NetworkService>,
): WatchCache<NetworkService> {
  return watchCache(NS, server, o, () => true);
}
