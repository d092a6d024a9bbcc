/**
 * A local copy of a registry kept current by one watch Find, so lookups (nsmgr discovery) are
 * a Map scan instead of a remote Find per Request. The watch re-opens by itself when it breaks;
 * after each (re)connect a non-watch Find reconciles what changed while it was down (entries
 * deleted meanwhile never get a `deleted` event). NSEs past `expiration_time` are skipped at
 * lookup (as upstream `sdk/pkg/networkservice/common/discover` drops them).
 *
 * A watch can also go quiet without breaking (a proxy in between re-opened its own upstream
 * stream and lost the deletes, or stopped relaying): every `verifyMs` the cache lists again and
 * reconciles; when that listing disagrees with what the watch delivered, the stream is not
 * trusted any more: the difference is logged and the watch re-opened. `resync()` does the same
 * on demand (a caller that found only dead entries) and resolves once the fresh listing applied.
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
  /** ms between listings that check the watch missed nothing (default 5000; 0 = never) */
  verifyMs?: number;
}

export interface WatchCache<T> {
  /** the cached entries matching `query` (a template, as Find), live ones only */
  find(query?: T): T[];
  get(name: string): T | undefined;
  /** resolves after the first complete load (never rejects; waits until the registry answers) */
  readonly synced: Promise<void>;
  readonly size: number;
  /** re-opens the watch and resolves after the fresh listing is applied (or after `timeoutMs`, default 3000) */
  resync(timeoutMs?: number): Promise<void>;
  /** calls `fn` after every change applied to the cache */
  onChange(fn: (name: string, item: T | undefined) => void): () => void;
  close(): void;
}

function watchCache<T, Q, R>(
  kind: Kind<T, Q, R>,
  server: RegistryServer<T, Q, R>,
  o: WatchCacheOptions<T>,
  live: (v: T) => boolean,
  same: (a: T, b: T) => boolean,
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

  // per listing in flight, the names the watch delivered meanwhile: for them the watch is newer
  const listings = new Set<Set<string>>();
  // resolved by the next completed listing (resync waits on it)
  let listed: { promise: Promise<void>; resolve: () => void } | undefined;
  let current: AbortController | undefined;

  /** Lists and makes the cache equal to the listing, except for names the watch touched meanwhile; returns the changes made. */
  async function reconcile(signal: AbortSignal): Promise<number> {
    const waiting = listed; // a resync called before this listing began
    listed = undefined;
    const moved = new Set<string>();
    listings.add(moved);
    const seen = new Map<string, T>();
    try {
      for await (const r of server.find(kind.makeQuery(template, false), newCtx({ signal, timeoutMs: 15_000, log }))) {
        const { item, deleted } = kind.itemOf(r);
        if (item && !deleted) seen.set(kind.nameOf(item), item);
      }
    } catch (e) {
      if (waiting) listed ??= waiting; // the next listing answers it
      throw e;
    } finally {
      listings.delete(moved);
    }
    let changes = 0;
    for (const name of [...items.keys()])
      if (!seen.has(name) && !moved.has(name)) {
        changes++;
        set(name, undefined);
      }
    for (const [name, item] of seen) {
      if (moved.has(name)) continue;
      const had = items.get(name);
      if (had && same(had, item)) continue;
      changes++;
      set(name, item);
    }
    waiting?.resolve();
    return changes;
  }

  async function run() {
    let first = true;
    while (!ac.signal.aborted) {
      const conn = new AbortController();
      current = conn;
      const ctx = newCtx({ signal: AbortSignal.any([ac.signal, conn.signal]), log });
      const watching = (async () => {
        for await (const r of server.find(kind.makeQuery(template, true), ctx)) {
          const { item, deleted } = kind.itemOf(r);
          if (!item) continue;
          const name = kind.nameOf(item);
          for (const l of listings) l.add(name);
          set(name, deleted ? undefined : item);
        }
      })();
      watching.catch(() => {}); // awaited below; this only keeps an early failure from counting as unhandled
      let verifier: ReturnType<typeof setInterval> | undefined;
      try {
        const changes = await reconcile(ctx.signal);
        if (!first && changes)
          log.info({ changes }, "watch cache: re-listed after reconnect, applied what the watch missed");
        first = false;
        markSynced();
        const verifyMs = o.verifyMs ?? 5000;
        if (verifyMs > 0) {
          let busy = false;
          verifier = setInterval(() => {
            if (busy || ctx.signal.aborted) return;
            busy = true;
            reconcile(ctx.signal)
              .then((n) => {
                if (n && !ctx.signal.aborted) {
                  log.warn(
                    { changes: n },
                    "watch cache: the watch stream missed changes (silent stream); re-opening it",
                  );
                  conn.abort();
                }
              })
              .catch(() => {})
              .finally(() => {
                busy = false;
              });
          }, verifyMs);
          verifier.unref?.();
        }
        await watching;
        if (!ac.signal.aborted && !conn.signal.aborted) log.info("watch cache: watch ended, reconnecting");
      } catch (err) {
        if (!ac.signal.aborted && !conn.signal.aborted)
          log.info({ err: messageOf(err) }, "watch cache: watch broke, reconnecting");
      } finally {
        if (verifier) clearInterval(verifier);
        conn.abort();
        await watching.catch(() => {});
      }
      if (!ac.signal.aborted) await sleep(o.retryMs ?? 200, ac.signal);
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
    resync(timeoutMs = 3000) {
      if (!listed) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        listed = { promise, resolve };
      }
      const wait = listed.promise;
      current?.abort(); // the loop re-opens the watch and lists at once
      return new Promise<void>((res) => {
        const t = setTimeout(res, timeoutMs);
        t.unref?.();
        void wait.then(() => {
          clearTimeout(t);
          res();
        });
      });
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
  return watchCache(
    NSE,
    server,
    o,
    (v) => !isExpired(v),
    (a, b) => a.url === b.url && a.networkServiceNames.join() === b.networkServiceNames.join(),
  );
}

export function nsWatchCache(
  server: NsRegistryServer,
  o: WatchCacheOptions<NetworkService>,
): WatchCache<NetworkService> {
  return watchCache(
    NS,
    server,
    o,
    () => true,
    (a, b) => a.payload === b.payload,
  );
}
