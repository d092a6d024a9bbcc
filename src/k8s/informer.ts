/**
 * A small informer: LIST, then a resumable WATCH from the list's resourceVersion (watch.ts),
 * keeping the current objects by namespace/name and calling `onChange` with all of them after
 * the first list and after every change. A dropped connection resumes from the last version
 * seen; 410 Gone lists again (and reports the difference as one change). The controllers
 * (cluster-info, exclude-prefixes, map-ip) are built on it: each reacts to an event at once.
 *
 *   const inf = informer(kc, {
 *     path: "/api/v1/nodes",
 *     list: async () => core.listNode(),
 *     onChange: (objs, ev) => ..., signal,
 *   });
 *   await inf.synced;
 */
import type { KubeConfig, KubernetesObject } from "./client.js";
import { apiMessage } from "./kube.js";
import { resumableWatch, type WatchEventType } from "./watch.js";
import { type Logger, silentLogger } from "../tools/log.js";

export interface ListResult<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

export interface InformerEvent<T> {
  type: WatchEventType | "SYNC";
  obj?: T;
}

export interface InformerOptions<T extends KubernetesObject> {
  /** the collection's API path, e.g. /api/v1/nodes or /api/v1/namespaces/ns/configmaps */
  path: string;
  list(): Promise<ListResult<T>>;
  fieldSelector?: string;
  onChange(objects: ReadonlyMap<string, T>, ev: InformerEvent<T>): void;
  signal: AbortSignal;
  log?: Logger;
  /** ms between list retries (default 250) */
  retryMs?: number;
}

export interface Informer<T> {
  /** resolves after the first list was delivered (never rejects; retries until the signal) */
  readonly synced: Promise<void>;
  readonly objects: ReadonlyMap<string, T>;
  /** the newest resourceVersion seen */
  readonly resourceVersion: string;
}

export const keyOf = (o: KubernetesObject) =>
  o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata?.name ?? "");

export function informer<T extends KubernetesObject>(kc: KubeConfig, o: InformerOptions<T>): Informer<T> {
  const log = o.log ?? silentLogger;
  const objects = new Map<string, T>();
  let rv = "";
  let stop: (() => void) | undefined;
  o.signal.addEventListener("abort", () => stop?.(), { once: true });

  const sync = async (): Promise<void> => {
    stop?.();
    stop = undefined;
    for (;;) {
      if (o.signal.aborted) return;
      try {
        const l = await o.list();
        if (o.signal.aborted) return;
        objects.clear();
        for (const it of l.items) objects.set(keyOf(it), it);
        rv = l.metadata?.resourceVersion ?? "";
        o.onChange(objects, { type: "SYNC" });
        stop = resumableWatch(
          kc,
          o.path,
          rv,
          {
            event(type, obj) {
              const k = keyOf(obj);
              if (type === "DELETED") objects.delete(k);
              else objects.set(k, obj as T);
              o.onChange(objects, { type, obj: obj as T });
            },
            gone() {
              log.info({ path: o.path }, "k8s: watch history gone, listing again");
              void sync();
            },
            error: (err) => log.debug({ path: o.path, err: err.message }, "k8s: watch interrupted, resuming"),
            progress: (v) => (rv = v),
          },
          { fieldSelector: o.fieldSelector },
        );
        if (o.signal.aborted) stop();
        return;
      } catch (err) {
        if (o.signal.aborted) return;
        log.warn({ path: o.path, err: apiMessage(err) }, "k8s: list failed, retrying");
        await new Promise((r) => setTimeout(r, o.retryMs ?? 250));
      }
    }
  };
  const synced = sync();
  return {
    synced,
    objects,
    get resourceVersion() {
      return rv;
    },
  };
}
