/**
 * Opens the store named by NSM_REGISTRY_STORE: `memory` (default),
 * `etcd://host:port[,host:port]` (a key prefix may follow as a path: `etcd://h:2379/nsm/`), or
 * `k8s[:namespace]` (NetworkService/NetworkServiceEndpoint custom resources through the API
 * server of KUBECONFIG or the cluster; namespace default NSM_NAMESPACE, then `default`).
 */
import { type Codec, type RegistryStore } from "./store.js";
import { memoryStore } from "./memory.js";

export interface OpenStoreOptions<T> {
  clone: (v: T) => T;
  codec: Codec<T>;
  /** key prefix inside etcd, e.g. "/nsm/registry/nse/" */
  prefix: string;
  /** which registry this store serves (picks the custom resource kind for k8s) */
  entity?: "ns" | "nse";
  /** kubeconfig path for k8s (default KUBECONFIG, else in-cluster) */
  kubeconfig?: string;
}

/** Parses `etcd://h1:p1,h2:p2[/prefix]` into endpoints and an optional prefix; throws naming the value. */
export function parseEtcdUrl(spec: string): { endpoints: string[]; prefix: string } {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(spec.trim());
  if (!m) throw new Error(`store "${spec}" is neither "memory", "k8s[:namespace]" nor etcd://host:port[,host:port]`);
  const endpoints = m[1]!
    .split(",")
    .map((h) => h.trim())
    .filter(Boolean)
    .map((h) => {
      if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(h))
        throw new Error(`store "${spec}": "${h}" is not host:port`);
      return `http://${h}`;
    });
  if (!endpoints.length) throw new Error(`store "${spec}" names no etcd endpoint`);
  return { endpoints, prefix: m[2] && m[2] !== "/" ? m[2] : "" };
}

/** `k8s` or `k8s:namespace` → the namespace ("" = NSM_NAMESPACE or default); undefined if not k8s. */
export function parseK8sStore(spec: string): string | undefined {
  const m = /^k8s(?::([a-z0-9]([-a-z0-9]*[a-z0-9])?))?$/.exec(spec.trim());
  if (!m) {
    if (/^k8s\b/.test(spec.trim())) throw new Error(`store "${spec}": the namespace is not a Kubernetes name`);
    return undefined;
  }
  return m[1] ?? "";
}

export async function openStore<T>(spec: string, o: OpenStoreOptions<T>): Promise<RegistryStore<T>> {
  if (spec === "" || spec === "memory") return memoryStore({ clone: o.clone });
  const ns = parseK8sStore(spec);
  if (ns !== undefined) {
    const { openK8sStore } = await import("./k8s.js");
    return openK8sStore<T>({
      namespace: ns || process.env.NSM_NAMESPACE || "default",
      entity: o.entity ?? "nse",
      kubeconfig: o.kubeconfig,
    });
  }
  const { endpoints, prefix } = parseEtcdUrl(spec);
  const { etcdStore } = await import("./etcd.js");
  return etcdStore({ endpoints, prefix: `${prefix}${o.prefix}`, codec: o.codec });
}
