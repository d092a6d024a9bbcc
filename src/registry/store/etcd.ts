/**
 * RegistryStore on etcd (v3 API, through the etcd3 client): one key per entry under a prefix,
 * values in protobuf binary, the etcd revision as store revision. Watches resume from the last
 * revision they delivered after any disconnect (etcd restart included), so no event is lost or
 * repeated; a compacted history ends the watch with `reset`.
 *
 *   const s = etcdStore({ endpoints: ["http://127.0.0.1:2379"], prefix: "/nsm/registry/nse/", codec });
 */
// etcd3's retry policies are cockatiel policies; package.json pins the version etcd3 resolves
import * as cockatiel from "cockatiel";
import { Etcd3, type IKeyValue, type IWatchResponse, type Namespace, type Watcher } from "etcd3";
import type { Codec, RegistryStore, StoreEntry } from "./store.js";

export interface EtcdStoreOptions<T> {
  /** http://host:port of each etcd member */
  endpoints: string[];
  prefix: string;
  codec: Codec<T>;
  /** ms to wait for a connection (default 2 s) */
  dialTimeoutMs?: number;
}

/** reconnect backoff for watch streams: 100 ms doubling to 1 s (etcd3's default goes to 30 s) */
function backoff(ms: number): cockatiel.IBackoff<unknown> {
  return { duration: ms, next: () => backoff(Math.min(ms * 2, 1000)) };
}

export function etcdStore<T>(o: EtcdStoreOptions<T>): RegistryStore<T> {
  const client = new Etcd3({
    hosts: o.endpoints,
    dialTimeout: o.dialTimeoutMs ?? 2000,
    faultHandling: {
      // no circuit breaker: after an etcd restart calls must go through at once; callers retry
      host: () => cockatiel.noop,
      global: cockatiel.retry(
        cockatiel.handleWhen(() => true),
        { maxAttempts: 2, backoff: new cockatiel.ConstantBackoff(100) },
      ),
      watchBackoff: backoff(100),
    },
  });
  const ns: Namespace = client.namespace(o.prefix);
  const kind = `etcd://${o.endpoints.map((e) => e.replace(/^https?:\/\//, "")).join(",")}${o.prefix}`;
  const watchers = new Set<Watcher>();

  const decode = (kv: IKeyValue): StoreEntry<T> => ({
    name: kv.key.toString(),
    value: o.codec.decode(kv.value),
    revision: Number(kv.mod_revision),
  });

  return {
    kind,
    async put(name, value) {
      const r = await ns.put(name).value(Buffer.from(o.codec.encode(value)));
      return Number(r.header.revision);
    },
    async delete(name, d = {}) {
      if (d.ifRevision === undefined) {
        const r = await ns.delete().key(name).exec();
        return Number(r.deleted) > 0 ? Number(r.header.revision) : undefined;
      }
      // delete only if not modified since ifRevision (a refresh on another replica wins)
      const r = await ns
        .if(name, "Mod", "<", d.ifRevision + 1)
        .then(ns.delete().key(name))
        .commit();
      const deleted = r.succeeded ? Number(r.responses[0]?.response_delete_range?.deleted ?? 0) : 0;
      return deleted > 0 ? Number(r.header.revision) : undefined;
    },
    async list() {
      const r = await ns.getAll().exec();
      return { entries: r.kvs.map(decode), revision: Number(r.header.revision) };
    },
    watch(after, h) {
      let last = after;
      let stopped = false;
      let watcher: Watcher | undefined;
      const onData = (res: IWatchResponse) => {
        for (const ev of res.events) {
          const rev = Number(ev.kv.mod_revision);
          if (rev <= last) continue; // replayed after a reconnect
          last = rev;
          const name = ev.kv.key.toString();
          if (ev.type === "Put") h.event({ type: "put", name, value: o.codec.decode(ev.kv.value), revision: rev });
          else if (ev.prev_kv)
            h.event({ type: "delete", name, value: o.codec.decode(ev.prev_kv.value), revision: rev });
        }
      };
      ns.watch()
        .prefix("")
        .withPreviousKV()
        .startRevision(String(after + 1))
        .create()
        .then(
          (w) => {
            if (stopped) {
              void w.cancel();
              return;
            }
            watcher = w;
            watchers.add(w);
            w.on("data", onData);
            w.on("disconnected", (err: Error) => {
              // etcd3 resumes from the header revision of the last response, which can be past
              // events it has not delivered yet; resume from the last one we delivered instead
              w.request.start_revision = String(last + 1);
              h.error?.(err);
            });
            w.on("error", (err: Error) => {
              // cancelled by etcd (history compacted): the caller re-lists
              watchers.delete(w);
              if (!stopped) {
                stopped = true;
                h.error?.(err);
                h.reset();
              }
            });
          },
          (err: Error) => {
            if (!stopped) {
              stopped = true;
              h.error?.(err);
              h.reset();
            }
          },
        );
      return () => {
        stopped = true;
        if (watcher) {
          watchers.delete(watcher);
          void watcher.cancel().catch(() => {});
        }
      };
    },
    async close() {
      await Promise.all([...watchers].map((w) => w.cancel().catch(() => {})));
      watchers.clear();
      client.close();
    },
  };
}
