/**
 * A Kubernetes watch that survives disconnects: it starts at a resourceVersion, asks for
 * bookmarks, remembers the newest resourceVersion it saw (events and bookmarks), and after the
 * connection ends (server timeout, API server restart, network) watches again from there, so
 * no event is lost or repeated. When the server answers 410 Gone (that version was compacted
 * away) the watch ends with `gone()`: the caller lists again and watches from the list's
 * version (see `informer.ts`).
 *
 *   const stop = resumableWatch(kc, "/api/v1/nodes", list.metadata.resourceVersion, {
 *     event: (type, obj) => ..., gone: () => relist(),
 *   });
 */
import { Watch, type KubeConfig, type KubernetesObject } from "./client.js";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface ResumableWatchHandler {
  event(type: WatchEventType, obj: KubernetesObject): void;
  /** the start version is too old (410 Gone): list again; this watch has ended */
  gone(): void;
  /** a broken connection, for logs; the watch resumes by itself */
  error?(err: Error): void;
  /** the newest resourceVersion seen (after events and bookmarks) */
  progress?(resourceVersion: string): void;
}

export interface ResumableWatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * server-side timeout of one watch request in s (default 25: client-node gives up on a watch
   * idle for 30 s, so the server ends it cleanly first and we go on from the last version)
   */
  timeoutSeconds?: number;
  /** reconnect backoff after an error: min and max ms (default 50..250, upstream's) */
  backoffMs?: [number, number];
}

export function resumableWatch(
  kc: KubeConfig,
  path: string,
  resourceVersion: string,
  h: ResumableWatchHandler,
  o: ResumableWatchOptions = {},
): () => void {
  const w = new Watch(kc);
  let last = resourceVersion;
  let stopped = false;
  let current: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  const [minMs, maxMs] = o.backoffMs ?? [50, 250];
  let delay = minMs;

  const seen = (obj: KubernetesObject | undefined) => {
    const rv = obj?.metadata?.resourceVersion;
    if (rv) {
      last = rv;
      h.progress?.(rv);
    }
  };

  const start = () => {
    if (stopped) return;
    let gone = false;
    let gotAny = false;
    void w
      .watch(
        path,
        {
          resourceVersion: last,
          allowWatchBookmarks: true,
          timeoutSeconds: o.timeoutSeconds ?? 25,
          labelSelector: o.labelSelector,
          fieldSelector: o.fieldSelector,
        },
        (phase: string, obj: KubernetesObject & { code?: number }) => {
          if (stopped || gone) return;
          gotAny = true;
          if (phase === "ERROR") {
            if (obj?.code === 410) gone = true;
            else h.error?.(new Error(`watch ${path}: ${JSON.stringify(obj)}`));
            current?.abort();
            return;
          }
          if (phase === "BOOKMARK") {
            seen(obj);
            return;
          }
          if (phase !== "ADDED" && phase !== "MODIFIED" && phase !== "DELETED") return;
          h.event(phase, obj);
          seen(obj);
        },
        (err: unknown) => {
          current = undefined;
          if (stopped) return;
          if (gone || (err && (err as { statusCode?: number }).statusCode === 410)) {
            stopped = true;
            h.gone();
            return;
          }
          // an idle watch cut by client-node's 30 s timer is a clean end, not a failure
          const quiet = err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError");
          if (err && !quiet) {
            h.error?.(err instanceof Error ? err : new Error(String(err)));
            timer = setTimeout(start, delay);
            delay = Math.min(delay * 2, maxMs);
            return;
          }
          if (gotAny) delay = minMs;
          // a clean end (server timeout): go on at once from the newest version seen
          timer = setTimeout(start, gotAny ? 0 : delay);
        },
      )
      .then((ac) => {
        if (stopped) ac.abort();
        else current = ac;
      });
  };
  start();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    current?.abort();
  };
}
