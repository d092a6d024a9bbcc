/**
 * The Kubernetes source of the interdomain IP map (upstream cmd-map-ip-k8s): from the Nodes,
 * internal address → the address other clusters reach (the node's ExternalIP when it has one).
 * For every node: each InternalIP A maps to itself, or to the first ExternalIP E when there is
 * one; each ExternalIP maps to itself. When a watch event (not the first list) modifies this
 * pod's own node (`nodeName`), the pod's own address maps to that node's external (else
 * internal) address too, and stays. Deleted nodes take their entries with them.
 * `nsm map-ip` writes the map as YAML (`internal: external`) for nsmgr-proxy.
 * `watchConfigMapIpMap` is upstream's optional second source (NSM_FROM_CONFIG_MAP): every data
 * value of one ConfigMap is a YAML `from: to` map (upstream watches the wrong namespace
 * argument; this watches NSM_NAMESPACE).
 *
 *   const ready = watchNodeIpMap(kc, (m) => writeYaml(m), signal, { nodeName: process.env.NSM_NODE_NAME });
 */
import { networkInterfaces } from "node:os";
import { CoreV1Api, loadYaml, type KubeConfig, type V1ConfigMap, type V1Node } from "./client.js";
import { informer } from "./informer.js";
import type { Logger } from "../tools/log.js";

/** The (from, to) pairs one Node contributes. */
export function nodeIpEntries(node: V1Node): [string, string][] {
  const addrs = node.status?.addresses ?? [];
  const internal = addrs.filter((a) => a.type === "InternalIP").map((a) => a.address);
  const external = addrs.filter((a) => a.type === "ExternalIP").map((a) => a.address);
  return [
    ...internal.map((a): [string, string] => [a, external[0] ?? a]),
    ...external.map((e): [string, string] => [e, e]),
  ];
}

/** This host's first non-loopback address (IPv4 preferred), as upstream picks the pod IP. */
export function ownPodIp(): string | undefined {
  const all = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal);
  return (all.find((a) => a!.family === "IPv4") ?? all[0])?.address;
}

export interface NodeIpMapOptions {
  /** the node this pod runs on (NSM_NODE_NAME) */
  nodeName?: string;
  /** this pod's address (default: ownPodIp()) */
  podIp?: string;
  log?: Logger;
}

/**
 * Watches the Nodes and calls `onChange` with the whole map after the first list and after
 * every change that alters it. Resolves once the first map was delivered.
 */
export async function watchNodeIpMap(
  kc: KubeConfig,
  onChange: (m: Map<string, string>) => void,
  signal: AbortSignal,
  o: NodeIpMapOptions = {},
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const sticky = new Map<string, string>();
  let last = "";
  const inf = informer<V1Node>(kc, {
    path: "/api/v1/nodes",
    list: () => core.listNode(),
    signal,
    log: o.log,
    onChange(nodes, ev) {
      if (o.nodeName && ev.obj?.metadata?.name === o.nodeName && (ev.type === "ADDED" || ev.type === "MODIFIED")) {
        const pod = o.podIp ?? ownPodIp();
        const addrs = ev.obj.status?.addresses ?? [];
        const to = (addrs.find((a) => a.type === "ExternalIP") ?? addrs.find((a) => a.type === "InternalIP"))?.address;
        if (pod && to) sticky.set(pod, to);
      }
      const m = new Map<string, string>();
      for (const n of nodes.values()) for (const [from, to] of nodeIpEntries(n)) m.set(from, to);
      for (const [from, to] of sticky) m.set(from, to);
      const key = JSON.stringify([...m].sort());
      if (key === last) return;
      last = key;
      onChange(m);
    },
  });
  await inf.synced;
}

/**
 * Watches ConfigMap `namespace/name` and calls `onChange` with the union of its data values,
 * each a YAML map `from: to` (values that are not YAML maps are skipped); an absent ConfigMap
 * is an empty map. Resolves once the first map was delivered.
 */
export async function watchConfigMapIpMap(
  kc: KubeConfig,
  namespace: string,
  name: string,
  onChange: (m: Map<string, string>) => void,
  signal: AbortSignal,
  o: { log?: Logger } = {},
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const inf = informer<V1ConfigMap>(kc, {
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    fieldSelector: `metadata.name=${name}`,
    list: () => core.listNamespacedConfigMap({ namespace, fieldSelector: `metadata.name=${name}` }),
    signal,
    log: o.log,
    onChange(objs) {
      const m = new Map<string, string>();
      for (const cm of objs.values())
        for (const text of Object.values(cm.data ?? {})) {
          try {
            const y = loadYaml<unknown>(text);
            if (y && typeof y === "object" && !Array.isArray(y))
              for (const [from, to] of Object.entries(y as Record<string, unknown>)) m.set(from, String(to));
          } catch {
            o.log?.warn({ configMap: `${namespace}/${name}` }, "map-ip: a ConfigMap value is not YAML; skipped");
          }
        }
      onChange(m);
    },
  });
  await inf.synced;
}
