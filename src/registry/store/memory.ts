/**
 * In-process RegistryStore: a Map plus a revision counter and a bounded history so a watch can
 * start at an older revision (older than the history → `reset`, like a compacted etcd).
 * Values are cloned on the way in, so callers may keep mutating theirs.
 */
import type { RegistryStore, StoreEntry, StoreEvent, WatchHandler } from "./store.js";

export interface MemoryStoreOptions<T> {
  clone: (v: T) => T;
  /** events kept for watches that start in the past (default 10,000) */
  history?: number;
}

export function memoryStore<T>(o: MemoryStoreOptions<T>): RegistryStore<T> {
  const entries = new Map<string, StoreEntry<T>>();
  // events since `history[start]`; the front is dropped in chunks (amortised O(1) per event,
  // where a splice per event copied the whole history each time)
  let history: StoreEvent<T>[] = [];
  let start = 0;
  const maxHistory = o.history ?? 10_000;
  const watchers = new Set<WatchHandler<T>>();
  let revision = 0;
  let closed = false;

  const emit = (e: StoreEvent<T>) => {
    history.push(e);
    if (history.length - start > maxHistory) {
      start = history.length - maxHistory;
      if (start >= Math.max(1024, maxHistory)) {
        history = history.slice(start);
        start = 0;
      }
    }
    if (watchers.size === 1) for (const w of watchers) w.event(e);
    else for (const w of [...watchers]) if (watchers.has(w)) w.event(e);
  };
  const check = () => {
    if (closed) throw new Error("memory store is closed");
  };

  return {
    kind: "memory",
    async put(name, value) {
      check();
      const v = o.clone(value);
      const rev = ++revision;
      entries.set(name, { name, value: v, revision: rev });
      emit({ type: "put", name, value: v, revision: rev });
      return rev;
    },
    async delete(name, d = {}) {
      check();
      const cur = entries.get(name);
      if (!cur) return undefined;
      if (d.ifRevision !== undefined && cur.revision > d.ifRevision) return undefined;
      entries.delete(name);
      const rev = ++revision;
      emit({ type: "delete", name, value: cur.value, revision: rev });
      return rev;
    },
    async list() {
      check();
      return { entries: [...entries.values()], revision };
    },
    watch(after, h) {
      check();
      const first = history[start];
      if (after < revision && (!first || first.revision > after + 1)) {
        queueMicrotask(() => h.reset());
        return () => {};
      }
      // replay what the watcher has not seen, synchronously, then go live
      for (let i = start; i < history.length; i++) if (history[i]!.revision > after) h.event(history[i]!);
      watchers.add(h);
      return () => {
        watchers.delete(h);
      };
    },
    async close() {
      closed = true;
      watchers.clear();
    },
  };
}
