/**
 * A registry store on Kubernetes custom resources (what upstream's cmd-registry-k8s keeps in
 * the cluster): one CR per entry in one namespace, `metadata.name` = the entry name, the entry
 * in `spec`. The store revision is the object's resourceVersion (the API server's etcd
 * revision, one counter for the whole cluster, so it orders every write). It has the shape of
 * the registry's RegistryStore (src/registry/store/store.ts), which plugs it in as
 * NSM_REGISTRY_STORE=k8s:
 *
 * - put: create; if it exists, read + replace the spec (retried on a write conflict). Each put
 *   stamps the annotation `networkservicemesh.io/written`, so a refresh with an unchanged spec
 *   is still a write every watcher sees (the API server drops no-op updates);
 * - delete with `ifRevision`: only when the object was not written after that revision
 *   (precondition on the resourceVersion read), so an expiry never removes a refresh;
 * - list: one LIST, its resourceVersion is the snapshot's revision;
 * - watch: a resumable Kubernetes watch from that revision with bookmarks (see watch.ts);
 *   410 Gone ends it with `reset` and the registry re-lists.
 *
 *   const s = await crStore({ kubeConfig: kc, namespace: "nsm-system", crKind: NSE_KIND, toSpec: nseToSpec, fromSpec: nseFromSpec });
 */
import { CustomObjectsApi, type KubeConfig, type KubernetesObject } from "./client.js";
import type { JsonValue } from "../api/index.js";
import { apiMessage, apiStatus } from "./kube.js";
import { NSM_API_VERSION, NSM_GROUP, NSM_VERSION, type CrKind } from "./registry-crd.js";
import { resumableWatch } from "./watch.js";

export interface CrStoreOptions<T> {
  kubeConfig: KubeConfig;
  namespace: string;
  crKind: CrKind;
  toSpec(v: T): Record<string, JsonValue>;
  fromSpec(spec: unknown, metaName: string): T;
}

interface Entry<T> {
  name: string;
  value: T;
  revision: number;
}
interface Event<T> extends Entry<T> {
  type: "put" | "delete";
}
interface Handler<T> {
  event(e: Event<T>): void;
  reset(): void;
  error?(err: Error): void;
}
type Cr = KubernetesObject & { spec?: unknown };

/** annotation stamped on every write (see put) */
export const WRITTEN_ANNOTATION = "networkservicemesh.io/written";
let writes = 0;
const stamp = () => `${new Date().toISOString()} ${process.pid}.${++writes}`;

/** how long a delete waits for its DELETED event before answering without a revision */
const DELETE_EVENT_TIMEOUT_MS = 5000;

const rvOf = (o: KubernetesObject | undefined): number => Number(o?.metadata?.resourceVersion ?? 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function crStore<T>(o: CrStoreOptions<T>) {
  const api = o.kubeConfig.makeApiClient(CustomObjectsApi);
  const base = { group: NSM_GROUP, version: NSM_VERSION, namespace: o.namespace, plural: o.crKind.plural };
  const server = o.kubeConfig.getCurrentCluster()?.server ?? "";
  const stops = new Set<() => void>();
  const entryOf = (obj: Cr): Entry<T> => {
    const name = obj.metadata!.name!;
    return { name, value: o.fromSpec(obj.spec, name), revision: rvOf(obj) };
  };
  // deletions in flight, by name: resolved with the revision of the DELETED event
  const pending = new Map<string, Set<(rev: number | undefined) => void>>();
  const deleted = (name: string, rev: number) => {
    for (const r of pending.get(name) ?? []) r(rev);
    pending.delete(name);
  };
  const deletionOf = (name: string) => {
    let resolve!: (rev: number | undefined) => void;
    const p = new Promise<number | undefined>((r) => (resolve = r));
    const set = pending.get(name) ?? new Set();
    pending.set(name, set.add(resolve));
    const timer = setTimeout(() => resolve(undefined), DELETE_EVENT_TIMEOUT_MS);
    timer.unref();
    const cancel = () => {
      clearTimeout(timer);
      set.delete(resolve);
      if (!set.size && pending.get(name) === set) pending.delete(name);
      resolve(undefined);
    };
    return { cancel, revision: p.finally(cancel) };
  };
  const fail = (what: string, name: string, err: unknown) =>
    new Error(`${o.crKind.kind} "${name}" in namespace ${o.namespace}: ${what} failed: ${apiMessage(err)}`);

  return {
    kind: `k8s://${server.replace(/^https?:\/\//, "")}/${o.namespace}/${o.crKind.plural}`,
    async put(name: string, value: T): Promise<number> {
      const spec = o.toSpec(value);
      const annotations = { [WRITTEN_ANNOTATION]: stamp() };
      const body: Cr = {
        apiVersion: NSM_API_VERSION,
        kind: o.crKind.kind,
        metadata: { name, namespace: o.namespace, annotations },
        spec,
      };
      try {
        return rvOf((await api.createNamespacedCustomObject({ ...base, body })) as Cr);
      } catch (err) {
        if (apiStatus(err) !== 409) throw fail("create", name, err);
      }
      for (let i = 0; ; i++) {
        try {
          const cur = (await api.getNamespacedCustomObject({ ...base, name })) as Cr;
          cur.spec = spec;
          cur.metadata!.annotations = { ...cur.metadata!.annotations, [WRITTEN_ANNOTATION]: stamp() };
          return rvOf((await api.replaceNamespacedCustomObject({ ...base, name, body: cur })) as Cr);
        } catch (err) {
          const code = apiStatus(err);
          // 409: written meanwhile; 404: deleted meanwhile (create again)
          if (code === 404 && i < 5) {
            try {
              return rvOf((await api.createNamespacedCustomObject({ ...base, body })) as Cr);
            } catch (e2) {
              if (apiStatus(e2) !== 409) throw fail("create", name, e2);
            }
          } else if (code !== 409 || i >= 5) throw fail("update", name, err);
          await sleep(10 * (i + 1));
        }
      }
    },
    async delete(name: string, d: { ifRevision?: number } = {}): Promise<number | undefined> {
      let precondition: string | undefined;
      if (d.ifRevision !== undefined) {
        try {
          const cur = (await api.getNamespacedCustomObject({ ...base, name })) as Cr;
          if (rvOf(cur) > d.ifRevision) return undefined; // refreshed since
          precondition = cur.metadata!.resourceVersion;
        } catch (err) {
          if (apiStatus(err) === 404) return undefined;
          throw fail("read", name, err);
        }
      }
      // the API server answers a delete with a Status, not the deletion's resourceVersion: that
      // comes with the DELETED event on our watch (the registry's replica has one open)
      const seen = stops.size ? deletionOf(name) : undefined;
      try {
        await api.deleteNamespacedCustomObject({
          ...base,
          name,
          body: precondition ? { preconditions: { resourceVersion: precondition } } : {},
        });
      } catch (err) {
        seen?.cancel();
        const code = apiStatus(err);
        if (code === 404 || code === 409) return undefined;
        throw fail("delete", name, err);
      }
      if (seen) return seen.revision;
      // no watch: a revision at or after the deletion
      const l = (await api.listNamespacedCustomObject({ ...base, limit: 1 })) as {
        metadata?: { resourceVersion?: string };
      };
      return Number(l.metadata?.resourceVersion ?? 0) || undefined;
    },
    async list(): Promise<{ entries: Entry<T>[]; revision: number }> {
      const r = (await api.listNamespacedCustomObject(base)) as {
        items: Cr[];
        metadata?: { resourceVersion?: string };
      };
      return { entries: r.items.map(entryOf), revision: Number(r.metadata?.resourceVersion ?? 0) };
    },
    watch(after: number, h: Handler<T>): () => void {
      const path = `/apis/${NSM_GROUP}/${NSM_VERSION}/namespaces/${o.namespace}/${o.crKind.plural}`;
      const stop = resumableWatch(o.kubeConfig, path, String(after), {
        event(type, obj) {
          const en = entryOf(obj as Cr);
          h.event({ ...en, type: type === "DELETED" ? "delete" : "put" });
          if (type === "DELETED") deleted(en.name, en.revision);
        },
        gone() {
          stops.delete(stop);
          h.reset();
        },
        error: (err) => h.error?.(err),
      });
      stops.add(stop);
      return () => {
        stops.delete(stop);
        stop();
      };
    },
    async close(): Promise<void> {
      for (const s of stops) s();
      stops.clear();
    },
  };
}
