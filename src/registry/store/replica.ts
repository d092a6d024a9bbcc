/**
 * A local, always-current copy of a RegistryStore: one list, then one watch from that revision.
 * Registry servers answer Find and fan out watch events from it, so a Find never goes to etcd
 * and 100 watchers cost one etcd watch. Events are applied once, in revision order; if the
 * store's history is compacted the replica re-lists and emits the difference as events.
 *
 *   const r = new Replica(store, { signal });
 *   await r.ready;
 *   const off = r.subscribe((e) => console.log(e.type, e.name));
 *   await r.waitFor(await store.put("a", v)); // read-your-writes: r.get("a") is there now
 */
import { messageOf } from "../../core/index.js";
import { type Logger, silentLogger } from "../../tools/log.js";
import type { RegistryStore, StoreEntry, StoreEvent } from "./store.js";

export interface ReplicaOptions {
  signal: AbortSignal;
  log?: Logger;
  /** ms between list retries (default 200) */ retryMs?: number;
}

export class Replica<T> {
  private readonly entries = new Map<string, StoreEntry<T>>();
  private readonly subs = new Set<(e: StoreEvent<T>) => void>();
  private waiters: { rev: number; resolve: () => void }[] = [];
  private stopWatch: (() => void) | undefined;
  private rev = 0;
  private readonly log: Logger;
  /** resolves once the first snapshot is loaded (never rejects; retries until the signal ends) */
  readonly ready: Promise<void>;

  constructor(
    readonly store: RegistryStore<T>,
    private readonly o: ReplicaOptions,
  ) {
    this.log = o.log ?? silentLogger;
    this.ready = this.sync();
    o.signal.addEventListener("abort", () => this.close(), { once: true });
  }

  /** the store revision this replica reflects */
  get revision(): number {
    return this.rev;
  }
  get size(): number {
    return this.entries.size;
  }
  get(name: string): StoreEntry<T> | undefined {
    return this.entries.get(name);
  }
  values(): IterableIterator<StoreEntry<T>> {
    return this.entries.values();
  }

  /** Calls `fn` with every later change (synchronously, in order). Returns the unsubscribe. */
  subscribe(fn: (e: StoreEvent<T>) => void): () => void {
    this.subs.add(fn);
    return () => {
      this.subs.delete(fn);
    };
  }

  /** Resolves once the replica has applied revision `rev` (rejects when `signal` ends first). */
  waitFor(rev: number, signal?: AbortSignal): Promise<void> {
    if (this.rev >= rev) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w = {
        rev,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  close(): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
    this.subs.clear();
  }

  private advance(rev: number): void {
    if (rev <= this.rev) return;
    this.rev = rev;
    if (!this.waiters.length) return;
    const due = this.waiters.filter((w) => w.rev <= rev);
    if (!due.length) return;
    this.waiters = this.waiters.filter((w) => w.rev > rev);
    for (const w of due) w.resolve();
  }

  private emit(e: StoreEvent<T>): void {
    for (const fn of [...this.subs]) {
      try {
        fn(e);
      } catch (err) {
        this.log.error({ err: messageOf(err), name: e.name }, "registry replica: subscriber failed");
      }
    }
  }

  private apply(e: StoreEvent<T>): void {
    if (e.revision <= this.rev) return; // already seen (e.g. replayed after a reconnect)
    if (e.type === "put") this.entries.set(e.name, { name: e.name, value: e.value, revision: e.revision });
    else this.entries.delete(e.name);
    this.emit(e);
    this.advance(e.revision);
  }

  /** (Re)loads the snapshot, emits the difference to what we had, then watches from there. */
  private async sync(): Promise<void> {
    this.stopWatch?.();
    this.stopWatch = undefined;
    for (;;) {
      if (this.o.signal.aborted) return;
      try {
        const snap = await this.store.list({ signal: this.o.signal });
        if (this.o.signal.aborted) return;
        const seen = new Set<string>();
        for (const en of snap.entries) {
          seen.add(en.name);
          const cur = this.entries.get(en.name);
          if (cur && cur.revision === en.revision) continue;
          this.entries.set(en.name, en);
          this.emit({ type: "put", name: en.name, value: en.value, revision: en.revision });
        }
        for (const [name, cur] of [...this.entries]) {
          if (seen.has(name)) continue;
          this.entries.delete(name);
          this.emit({ type: "delete", name, value: cur.value, revision: snap.revision });
        }
        this.advance(snap.revision);
        this.stopWatch = this.store.watch(snap.revision, {
          event: (e) => this.apply(e),
          reset: () => {
            this.log.warn({ store: this.store.kind }, "registry replica: history compacted, re-listing");
            void this.sync();
          },
          error: (err) =>
            this.log.warn(
              { store: this.store.kind, err: err.message },
              "registry replica: watch interrupted, resuming",
            ),
        });
        return;
      } catch (err) {
        if (this.o.signal.aborted) return;
        this.log.warn({ store: this.store.kind, err: messageOf(err) }, "registry replica: list failed, retrying");
        await new Promise((r) => setTimeout(r, this.o.retryMs ?? 200));
      }
    }
  }
}
