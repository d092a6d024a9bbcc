/**
 * The storage behind a registry: named entries with a store-wide revision, and a watch that
 * delivers every change after a given revision exactly once and in order, across reconnects
 * of the backend. Two backends implement it: `memoryStore` (in-process, the default) and
 * `etcdStore` (a real etcd, so state survives registry restarts and replicas share it).
 *
 *   const store = memoryStore<NetworkServiceEndpoint>({ clone: (e) => clone(NetworkServiceEndpointSchema, e) });
 *   const rev = await store.put("nse-1", nse);
 *   const stop = store.watch(rev, { event: (e) => console.log(e.type, e.name), reset: () => {}, error: () => {} });
 */

/** One stored entry; `revision` is the store revision of its last write (etcd mod_revision). */
export interface StoreEntry<T> {
  readonly name: string;
  readonly value: T;
  readonly revision: number;
}

/** A change. For `delete`, `value` is the last stored value and `revision` the deletion's. */
export interface StoreEvent<T> {
  readonly type: "put" | "delete";
  readonly name: string;
  readonly value: T;
  readonly revision: number;
}

export interface StoreSnapshot<T> {
  readonly entries: StoreEntry<T>[];
  readonly revision: number;
}

export interface WatchHandler<T> {
  /** every change with revision > the start revision, once, in revision order */
  event(e: StoreEvent<T>): void;
  /**
   * the history from the start revision is gone (compacted): the caller must re-list and diff.
   * The watch has ended; start a new one from the snapshot's revision.
   */
  reset(): void;
  /** a connection problem, for logs; the watch keeps trying and resumes where it stopped */
  error?(err: Error): void;
}

export interface RegistryStore<T> {
  /** "memory" or "etcd://host:port,..." (for logs) */
  readonly kind: string;
  /** Writes `value` under `name`; resolves with the revision of the write. */
  put(name: string, value: T, o?: { signal?: AbortSignal }): Promise<number>;
  /**
   * Deletes `name`. With `ifRevision`, only if the entry was not written since that revision
   * (so an expiry does not remove a concurrent refresh). Resolves with the deletion's revision,
   * or undefined when nothing was deleted.
   */
  delete(name: string, o?: { ifRevision?: number; signal?: AbortSignal }): Promise<number | undefined>;
  /** A consistent snapshot of every entry and the revision it reflects. */
  list(o?: { signal?: AbortSignal }): Promise<StoreSnapshot<T>>;
  /** Streams changes after `afterRevision` to `h` until the returned function is called. */
  watch(afterRevision: number, h: WatchHandler<T>): () => void;
  close(): Promise<void>;
}

/** Turns values into bytes and back (etcd keeps protobuf binary). */
export interface Codec<T> {
  encode(v: T): Uint8Array;
  decode(b: Uint8Array): T;
}
