/**
 * Opens the store named by NSM_REGISTRY_STORE: `memory` (default) or
 * `etcd://host:port[,host:port]` (a key prefix may follow as a path: `etcd://h:2379/nsm/`).
 */
import { type Codec, type RegistryStore } from "./store.js";
import { memoryStore } from "./memory.js";

export interface OpenStoreOptions<T> {
  clone: (v: T) => T;
  codec: Codec<T>;
  /** key prefix inside etcd, e.g. "/nsm/registry/nse/" */
  prefix: string;
}

/** Parses `etcd://h1:p1,h2:p2[/prefix]` into endpoints and an optional prefix; throws naming the value. */
export function parseEtcdUrl(spec: string): { endpoints: string[]; prefix: string } {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(spec.trim());
  if (!m) throw new Error(`store "${spec}" is neither "memory" nor etcd://host:port[,host:port]`);
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

export async function openStore<T>(spec: string, o: OpenStoreOptions<T>): Promise<RegistryStore<T>> {
  if (spec === "" || spec === "memory") return memoryStore({ clone: o.clone });
  const { endpoints, prefix } = parseEtcdUrl(spec);
  const { etcdStore } = await import("./etcd.js");
  return etcdStore({ endpoints, prefix: `${prefix}${o.prefix}`, codec: o.codec });
}
