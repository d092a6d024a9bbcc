/**
 * Small helpers shared by the registry elements and chains: an async queue that turns pushed
 * events into an AsyncIterable (watch streams), sleeping on a signal, interdomain names, and
 * the per-kind adapters (name, clone, response) that let one generic element serve both
 * registries.
 */
import {
  type MessageInitShape,
  clone,
  create,
  NetworkServiceEndpointResponseSchema,
  NetworkServiceEndpointSchema,
  NetworkServiceResponseSchema,
  NetworkServiceSchema,
  TimestampSchema,
  type NetworkService,
  type NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
  type NetworkServiceQuery,
  type NetworkServiceResponse,
} from "../api/index.js";
import { NsmError, status } from "../core/index.js";
import { parseUrl } from "../tools/url.js";
import { matchNs, matchNse } from "./match.js";

/** An unbounded-until-`limit` FIFO consumed as an AsyncIterable; ends on `end()` or `signal`. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private wake: (() => void) | undefined;
  private done = false;
  private failure: unknown;

  constructor(
    private readonly signal?: AbortSignal,
    private readonly limit = Infinity,
  ) {
    signal?.addEventListener("abort", () => this.end(), { once: true });
  }
  get length(): number {
    return this.items.length - this.head;
  }
  push(v: T): void {
    if (this.done) return;
    if (this.length >= this.limit) {
      this.end(new NsmError(status.RESOURCE_EXHAUSTED, `watcher is ${this.limit} events behind: dropped`));
      return;
    }
    this.items.push(v);
    this.wake?.();
  }
  end(err?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failure = err;
    this.wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.head < this.items.length) {
        const v = this.items[this.head++]!;
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items = this.items.slice(this.head);
          this.head = 0;
        }
        yield v;
        continue;
      }
      if (this.done) {
        if (this.failure) throw this.failure;
        return;
      }
      await new Promise<void>((r) => {
        this.wake = r;
      });
      this.wake = undefined;
    }
  }
}

/** Resolves after `ms` or when `signal` ends (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * At most one pending timer per entry name (expire, refresh): `start` arms one (unref'd) that
 * calls `fire` with its own AbortController, aborted by `cancel(name)`, `cancelAll()` or the end
 * of `signal`. With `forgetOnFire` the name is dropped as its timer fires, so work begun then
 * (e.g. an Unregister that passes back through the element and cancels the name) is not aborted.
 */
export function timersByName(signal?: AbortSignal) {
  const timers = new Map<string, AbortController>();
  const cancel = (name: string) => {
    timers.get(name)?.abort();
    timers.delete(name);
  };
  const cancelAll = () => {
    for (const n of [...timers.keys()]) cancel(n);
  };
  signal?.addEventListener("abort", cancelAll, { once: true });
  return {
    cancel,
    cancelAll,
    start(name: string, ms: number, fire: (ac: AbortController) => void, o: { forgetOnFire?: boolean } = {}) {
      const ac = new AbortController();
      timers.set(name, ac);
      const t = setTimeout(() => {
        if (o.forgetOnFire && timers.get(name) === ac) timers.delete(name);
        fire(ac);
      }, ms);
      t.unref();
      ac.signal.addEventListener("abort", () => clearTimeout(t), { once: true });
    },
  };
}

/**
 * The query URL of a Find that asks an nsmgr whether the NSE named in the query was registered
 * through it: our localbypass answers it from its own table with one response whose URL is this
 * value (`deleted` when the name is not its own) and asks no registry. An nsmgr that does not
 * know the question (upstream's) answers without that URL.
 */
export const REGISTERED_HERE_URL = "nsm-registered-here:";

/** sdk pkg/tools/interdomain: a name with "@" belongs to another domain. */
export const interdomain = {
  is: (name: string) => name.includes("@"),
  target: (name: string) => name.split("@")[0]!,
  domain: (name: string) => name.slice(name.indexOf("@") + 1),
};

/** What a generic element needs to know about one registry kind. */
export interface Kind<T, Q, R> {
  readonly label: "NetworkServiceEndpoint" | "NetworkService";
  nameOf(e: T): string;
  /** an empty entry with only the name set (a by-name query template) */
  fromName(name: string): T;
  clone(e: T): T;
  /** what a client re-registers (refresh, heal): the answer, but asking for a fresh lifetime again */
  forRefresh(answer: T, asked: T): T;
  query(q: Q): { item: T | undefined; watch: boolean };
  makeQuery(item: T, watch: boolean): Q;
  matches(query: T | undefined, candidate: T): boolean;
  response(item: T, deleted: boolean): R;
  itemOf(r: R): { item: T | undefined; deleted: boolean };
}

export const NSE: Kind<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> = {
  label: "NetworkServiceEndpoint",
  nameOf: (e) => e.name,
  fromName: (name) => create(NetworkServiceEndpointSchema, { name }),
  clone: (e) => clone(NetworkServiceEndpointSchema, e),
  forRefresh: (answer, asked) => {
    const e = clone(NetworkServiceEndpointSchema, answer);
    e.expirationTime = asked.expirationTime && clone(TimestampSchema, asked.expirationTime);
    return e;
  },
  query: (q) => ({ item: q.networkServiceEndpoint, watch: q.watch }),
  makeQuery: (item, watch) => ({
    $typeName: "registry.NetworkServiceEndpointQuery",
    networkServiceEndpoint: item,
    watch,
  }),
  matches: (q, c) => !q || matchNse(q, c),
  response: (item, deleted) => create(NetworkServiceEndpointResponseSchema, { networkServiceEndpoint: item, deleted }),
  itemOf: (r) => ({ item: r.networkServiceEndpoint, deleted: r.deleted }),
};

export const NS: Kind<NetworkService, NetworkServiceQuery, NetworkServiceResponse> = {
  label: "NetworkService",
  nameOf: (e) => e.name,
  fromName: (name) => create(NetworkServiceSchema, { name }),
  clone: (e) => clone(NetworkServiceSchema, e),
  forRefresh: (answer) => clone(NetworkServiceSchema, answer),
  query: (q) => ({ item: q.networkService, watch: q.watch }),
  makeQuery: (item, watch) => ({ $typeName: "registry.NetworkServiceQuery", networkService: item, watch }),
  matches: (q, c) => !q || matchNs(q, c),
  response: (item, deleted) => create(NetworkServiceResponseSchema, { networkService: item, deleted }),
  itemOf: (r) => ({ item: r.networkService, deleted: r.deleted }),
};

/** Builds a query message for `item` (a partial NSE/NS template). */
export function nseQuery(
  item: MessageInitShape<typeof NetworkServiceEndpointSchema> = {},
  watch = false,
): NetworkServiceEndpointQuery {
  return NSE.makeQuery(create(NetworkServiceEndpointSchema, item), watch);
}
export function nsQuery(item: MessageInitShape<typeof NetworkServiceSchema> = {}, watch = false): NetworkServiceQuery {
  return NS.makeQuery(create(NetworkServiceSchema, item), watch);
}

/** Reads a non-watch Find to its end, ignoring `deleted` responses (upstream Read…List). */
export async function readList<R, T>(
  it: AsyncIterable<R>,
  itemOf: (r: R) => { item: T | undefined; deleted: boolean },
): Promise<T[]> {
  const out: T[] = [];
  for await (const r of it) {
    const { item, deleted } = itemOf(r);
    if (item && !deleted) out.push(item);
  }
  return out;
}

/** Throws InvalidArgument if `url` is not a URL an NSE can be reached at. */
export function checkNseUrl(url: string, field = "NetworkServiceEndpoint.url"): void {
  if (!url) throw new NsmError(status.INVALID_ARGUMENT, `${field} must not be empty`);
  try {
    if (url.startsWith("tcp://") || url.startsWith("unix://")) {
      parseUrl(url);
      return;
    }
    const u = new URL(url);
    if (!/^[a-z][a-z0-9+.-]*:$/.test(u.protocol) || !url.includes("://")) throw new Error("no scheme://");
  } catch (e) {
    throw new NsmError(status.INVALID_ARGUMENT, `${field} "${url}" is not a valid URL: ${(e as Error).message}`);
  }
}
