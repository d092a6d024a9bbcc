/**
 * A cache for interdomain lookups (a query naming `name@domain`): such names are never in the
 * local watch cache, and each live Find crosses the registry, the nsmgr-proxy, registry-proxy-dns
 * and the other domain's registry. The first lookup of a query is live; its complete answer is
 * kept and a watch Find with the same query keeps it current (its first events re-send the
 * current matches, later ones the changes). While that watch stream is open, lookups are
 * answered from memory. When it breaks (anything on the way restarted: the nsmgr-proxy, whose map
 * of remote NSEs the next live Find fills again, registry-proxy-dns, the other domain's
 * registry), the entry is dropped and the next lookup is live again. `clear()` drops every entry
 * (discover's resync, when every endpoint it was given failed). Entries unused for `idleMs` close
 * their watch; at most `max` are kept. Answers with an entry `cacheable` refuses are not kept.
 */
import { messageOf, newCtx, type Ctx, type RegistryServer } from "../../core/index.js";
import { type Logger, silentLogger } from "../../tools/log.js";
import type { Kind } from "../../registry/tools.js";

export interface InterdomainCacheOptions<T> {
  signal: AbortSignal;
  log?: Logger;
  /** which queries are interdomain (cached) */
  remote(query: T): boolean;
  /** entries served from the cache (default: all) */
  live?(item: T): boolean;
  /** entries that may be kept (default: all); an answer holding another one is not cached */
  cacheable?(item: T): boolean;
  /** ms an entry is kept without a lookup (default 60 s) */
  idleMs?: number;
  /** entries kept at most (default 64) */
  max?: number;
}

export interface InterdomainCache<Q, R> {
  /** the answer to `q`: from the cache, or live (and then kept) when `q` is interdomain; undefined otherwise */
  find(q: Q, ctx: Ctx): AsyncIterable<R> | undefined;
  /** drops every entry; returns how many there were */
  clear(): number;
  readonly size: number;
}

interface Entry<T> {
  items: Map<string, T>;
  usedAt: number;
  ac: AbortController;
}

const keyOf = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x));

export function interdomainCache<T, Q, R>(
  kind: Kind<T, Q, R>,
  server: Pick<RegistryServer<T, Q, R>, "find">,
  o: InterdomainCacheOptions<T>,
): InterdomainCache<Q, R> {
  const log = o.log ?? silentLogger;
  const idleMs = o.idleMs ?? 60_000;
  const max = o.max ?? 64;
  const entries = new Map<string, Entry<T>>();
  const drop = (key: string, e: Entry<T>) => {
    if (entries.get(key) === e) entries.delete(key);
    e.ac.abort();
  };
  const clear = () => {
    const n = entries.size;
    for (const [k, e] of [...entries]) drop(k, e);
    return n;
  };
  o.signal.addEventListener("abort", clear, { once: true });
  const sweep = setInterval(
    () => {
      for (const [k, e] of [...entries]) if (Date.now() - e.usedAt > idleMs) drop(k, e);
    },
    Math.max(1000, idleMs / 2),
  );
  sweep.unref();
  o.signal.addEventListener("abort", () => clearInterval(sweep), { once: true });

  function keep(key: string, query: T, items: T[]) {
    if (o.signal.aborted) return;
    const old = entries.get(key);
    if (old) drop(key, old);
    if (entries.size >= max) {
      const oldest = [...entries].sort((a, b) => a[1].usedAt - b[1].usedAt)[0]!;
      drop(oldest[0], oldest[1]);
    }
    const e: Entry<T> = {
      items: new Map(items.map((x) => [kind.nameOf(x), x])),
      usedAt: Date.now(),
      ac: new AbortController(),
    };
    entries.set(key, e);
    const ctx = newCtx({ signal: AbortSignal.any([o.signal, e.ac.signal]), log });
    void (async () => {
      try {
        for await (const r of server.find(kind.makeQuery(query, true), ctx)) {
          const { item, deleted } = kind.itemOf(r);
          if (!item) continue;
          if (!deleted && o.cacheable && !o.cacheable(item)) break;
          if (deleted) e.items.delete(kind.nameOf(item));
          else e.items.set(kind.nameOf(item), kind.clone(item));
        }
      } catch (err) {
        if (!e.ac.signal.aborted) log.debug({ query: key, err: messageOf(err) }, "interdomain cache: watch broke");
      } finally {
        drop(key, e);
      }
    })();
  }

  async function* answer(items: T[]): AsyncIterable<R> {
    for (const x of items) yield kind.response(kind.clone(x), false);
  }

  async function* fill(key: string, query: T, q: Q, ctx: Ctx): AsyncIterable<R> {
    const rs: R[] = [];
    // read to the end before answering: a caller that stops at the first match must not cut the listing short
    for await (const r of server.find(q, ctx)) rs.push(r);
    const items: T[] = [];
    for (const r of rs) {
      const { item, deleted } = kind.itemOf(r);
      if (item && !deleted) items.push(kind.clone(item));
    }
    if (items.length && (!o.cacheable || items.every(o.cacheable))) keep(key, query, items);
    yield* rs;
  }

  return {
    find(q, ctx) {
      const { item, watch } = kind.query(q);
      if (watch || !item || !o.remote(item)) return undefined;
      const key = keyOf(item);
      const e = entries.get(key);
      if (e) {
        e.usedAt = Date.now();
        const hits = [...e.items.values()].filter((x) => !o.live || o.live(x));
        if (hits.length) return answer(hits);
      }
      return fill(key, item, q, ctx);
    },
    clear,
    get size() {
      return entries.size;
    },
  };
}
