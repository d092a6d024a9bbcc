/**
 * store: keeps registrations in a RegistryStore (memory or etcd) and answers Find from the
 * local Replica of it; watch streams get the current matches, then every change, until the
 * caller goes away. For NSEs it also enforces `expiration_time`: whichever registry replica's
 * timer fires first deletes the entry (only if nobody refreshed it meanwhile), and every
 * watcher sees it with `deleted=true` — this survives registry restarts because the time is
 * in the stored entry, not in a process.
 *
 * upstream: sdk pkg/registry/common/memory (store & broadcast) + the timer half of
 * pkg/registry/common/expire; we differ because state may live in etcd shared by replicas.
 */
import type {
  NetworkService,
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse,
  NetworkServiceQuery,
  NetworkServiceResponse,
} from "../../../api/index.js";
import { type Ctx, messageOf, NsmError, type RegistryElement, status } from "../../../core/index.js";
import { type Logger, silentLogger } from "../../../tools/log.js";
import type { Replica } from "../../store/replica.js";
import type { StoreEntry, StoreEvent } from "../../store/store.js";
import { AsyncQueue, type Kind, NS, NSE } from "../../tools.js";

export interface StoreElementOptions {
  signal: AbortSignal;
  log?: Logger;
  /** events a watcher may lag behind before its stream is ended (default 10,000) */
  watchBuffer?: number;
  /**
   * One response object per change, shared by every watch stream it matches (the registry
   * server, whose chain above the store passes find responses on untouched to the transport).
   * Off (default): each stream gets its own clone, for chains whose elements edit responses.
   */
  shareWatchResponses?: boolean;
}

export type StoreElement<T, Q, R> = RegistryElement<T, Q, R> & { close(): void };

function storeServer<T, Q, R>(
  kind: Kind<T, Q, R>,
  replica: Replica<T>,
  o: StoreElementOptions,
  expiryMs?: (v: T) => number | undefined,
): StoreElement<T, Q, R> {
  const log = o.log ?? silentLogger;
  // Expiry: one timer for the whole store, armed at the earliest deadline; when it fires it scans
  // for what is due (at most every 20 ms). A Timeout per entry, re-created on every refresh, was
  // a long-lived object per registration for the GC to mark and a timer-list insert per Register.
  const due = new Map<string, { en: StoreEntry<T>; at: number }>();
  let timer: NodeJS.Timeout | undefined;
  let armedAt = Infinity;
  let closed = false;

  const arm = (at: number) => {
    if (closed || at >= armedAt) return;
    if (timer) clearTimeout(timer);
    armedAt = at;
    timer = setTimeout(fire, Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1));
    timer.unref();
  };
  const fire = () => {
    timer = undefined;
    armedAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const [name, d] of due) {
      if (d.at <= now) {
        due.delete(name);
        void expireNow(d.en);
      } else if (d.at < next) next = d.at;
    }
    if (next < Infinity) arm(Math.max(next, now + 20));
  };
  const clearTimer = (name: string) => {
    due.delete(name); // the shared timer stays armed: a scan that finds nothing re-arms it
  };
  const schedule = (en: StoreEntry<T>, delayMs: number) => {
    if (closed) return;
    const at = Date.now() + delayMs;
    due.set(en.name, { en, at });
    arm(at);
  };
  const expireNow = async (en: StoreEntry<T>) => {
    if (closed || replica.get(en.name)?.revision !== en.revision) return;
    try {
      const rev = await replica.store.delete(en.name, { ifRevision: en.revision, signal: o.signal });
      log.debug({ name: en.name, deleted: rev !== undefined }, `registry: ${kind.label} expired`);
    } catch (err) {
      log.warn({ name: en.name, err: messageOf(err) }, `registry: deleting expired ${kind.label} failed, retrying`);
      schedule(en, 1000);
    }
  };
  const unsubscribe = expiryMs
    ? replica.subscribe((e: StoreEvent<T>) => {
        if (e.type === "delete") return clearTimer(e.name);
        const at = expiryMs(e.value);
        if (at === undefined) clearTimer(e.name);
        else schedule({ name: e.name, value: e.value, revision: e.revision }, at - Date.now());
      })
    : () => {};

  // watch responses: a clone per stream, or one per change shared by all streams (the event
  // is delivered to every subscriber synchronously, so one cached pair suffices)
  let last: { e: StoreEvent<T>; r: R } | undefined;
  const responseOf = (e: StoreEvent<T>): R => {
    if (!o.shareWatchResponses) return kind.response(kind.clone(e.value), e.type === "delete");
    if (last?.e !== e) last = { e, r: kind.response(kind.clone(e.value), e.type === "delete") };
    return last.r;
  };

  let isReady = false;
  void replica.ready.then(() => {
    isReady = true;
  });
  const ready = async (ctx: Ctx) => {
    if (isReady) return;
    await Promise.race([
      replica.ready,
      new Promise((_, rej) => {
        if (ctx.signal.aborted) rej(ctx.signal.reason);
        ctx.signal.addEventListener("abort", () => rej(ctx.signal.reason), { once: true });
      }),
    ]);
  };
  const unavailable = (what: string, name: string, err: unknown, ctx: Ctx) => {
    if (err instanceof NsmError || ctx.signal.aborted) return NsmError.from(err, ctx.signal);
    return new NsmError(
      status.UNAVAILABLE,
      `${what} ${kind.label} "${name}" in ${replica.store.kind}: ${messageOf(err)}`,
      { cause: err },
    );
  };

  return {
    async register(entry, ctx, next) {
      await ready(ctx);
      const res = await next.register(entry, ctx);
      const name = kind.nameOf(res);
      let rev: number;
      try {
        rev = await replica.store.put(name, res, { signal: ctx.signal });
      } catch (err) {
        throw unavailable("storing", name, err, ctx);
      }
      await replica.waitFor(rev, ctx.signal); // read-your-writes and watchers notified before we answer
      return res;
    },
    async unregister(entry, ctx, next) {
      await ready(ctx);
      const name = kind.nameOf(entry);
      let rev: number | undefined;
      try {
        rev = await replica.store.delete(name, { signal: ctx.signal });
      } catch (err) {
        throw unavailable("deleting", name, err, ctx);
      }
      if (rev !== undefined) await replica.waitFor(rev, ctx.signal);
      return next.unregister(entry, ctx);
    },
    async *find(query, ctx, next) {
      await ready(ctx);
      const { item, watch } = kind.query(query);
      const now = Date.now();
      const live = (v: T) => !expiryMs || (expiryMs(v) ?? Infinity) > now;
      // the current matches, taken synchronously (a by-name query is one map lookup)
      const snapshot = (): R[] => {
        const out: R[] = [];
        const name = item && kind.nameOf(item);
        const from = name ? [replica.get(name)].filter((en) => en !== undefined) : replica.values();
        for (const en of from)
          if (live(en.value) && kind.matches(item, en.value)) out.push(kind.response(kind.clone(en.value), false));
        return out;
      };
      if (!watch) {
        yield* snapshot();
        yield* next.find(query, ctx);
        return;
      }
      // subscribe and snapshot in the same tick: nothing can slip between them
      const q = new AsyncQueue<R>(ctx.signal, o.watchBuffer ?? 10_000);
      const off = replica.subscribe((e) => {
        if (kind.matches(item, e.value)) q.push(responseOf(e));
      });
      const onClose = () => q.end();
      o.signal.addEventListener("abort", onClose, { once: true });
      try {
        yield* snapshot();
        yield* q;
      } finally {
        off();
        o.signal.removeEventListener("abort", onClose);
      }
    },
    close() {
      closed = true;
      unsubscribe();
      if (timer) clearTimeout(timer);
      timer = undefined;
      due.clear();
    },
  };
}

const nseExpiry = (e: NetworkServiceEndpoint): number | undefined => {
  const t = e.expirationTime;
  return t ? Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6) : undefined;
};

/** NSE store element: stores, finds, watches, and deletes entries whose `expiration_time` passed. */
export function storeNseServer(
  replica: Replica<NetworkServiceEndpoint>,
  o: StoreElementOptions,
): StoreElement<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  return storeServer(NSE, replica, o, nseExpiry);
}

/** NS store element: stores, finds and watches NetworkServices (`matches` kept untouched). */
export function storeNsServer(
  replica: Replica<NetworkService>,
  o: StoreElementOptions,
): StoreElement<NetworkService, NetworkServiceQuery, NetworkServiceResponse> {
  return storeServer(NS, replica, o);
}
