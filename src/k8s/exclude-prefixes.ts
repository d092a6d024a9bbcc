/**
 * exclude-prefixes (upstream cmd-exclude-prefixes-k8s): collects the address ranges the
 * cluster already uses and publishes them, merged (prefixes.ts), for NSM's IPAM to avoid.
 * Sources, each watched (resuming from its resourceVersion) and re-merged on every change:
 * NSM_EXCLUDED_PREFIXES; ConfigMap kube-system/kubeadm-config (networking.podSubnet and
 * serviceSubnet); every Node's spec.podCIDR and every Service's clusterIP (/32 or /128); the
 * user ConfigMap's `prefixes:` list. The result is written only when the set changed, as YAML
 * `Prefixes: [...]`, to a file (mode 0600) or a ConfigMap key (restored if someone else edits it).
 *
 *   await startExcludePrefixes(kc, { static: [], userConfigMap: {...}, output: { kind: "file", path } }, signal);
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import {
  CoreV1Api,
  dumpYaml,
  loadYaml,
  type KubeConfig,
  type V1ConfigMap,
  type V1Node,
  type V1Service,
} from "./client.js";
import { informer } from "./informer.js";
import { apiMessage } from "./kube.js";
import { mergePrefixes } from "./prefixes.js";
import { type Logger, silentLogger } from "../tools/log.js";

export interface ExcludePrefixesConfig {
  static: string[];
  userConfigMap: { namespace: string; name: string; key: string };
  output: { kind: "file"; path: string } | { kind: "config-map"; namespace: string; name: string; key: string };
}

/** The YAML upstream writes (key capitalised). */
export const formatPrefixesYaml = (prefixes: string[]) => dumpYaml({ Prefixes: prefixes });

/** `prefixes:` (any case of the key) from user YAML; [] when absent or not YAML. */
export function parsePrefixesYaml(text: string | undefined): string[] {
  try {
    const o = loadYaml<Record<string, unknown>>(text ?? "") ?? {};
    const k = Object.keys(o).find((x) => x.toLowerCase() === "prefixes");
    const v = k ? o[k] : undefined;
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
}

function kubeadmPrefixes(cm: V1ConfigMap | undefined): string[] {
  try {
    const cc = loadYaml<{ networking?: { podSubnet?: string; serviceSubnet?: string } }>(
      cm?.data?.ClusterConfiguration ?? "",
    );
    const n = cc?.networking ?? {};
    return [n.podSubnet, n.serviceSubnet]
      .flatMap((s) => (s ?? "").split(","))
      .map((s) => s.trim())
      .filter(Boolean);
  } catch {
    return [];
  }
}

export interface ExcludePrefixes {
  /** the last written list */
  readonly current: string[];
}

export async function startExcludePrefixes(
  kc: KubeConfig,
  cfg: ExcludePrefixesConfig,
  signal: AbortSignal,
  log: Logger = silentLogger,
): Promise<ExcludePrefixes> {
  const core = kc.makeApiClient(CoreV1Api);
  const src = { kubeadm: [] as string[], nodes: [] as string[], services: [] as string[], user: [] as string[] };
  let written: string[] | undefined;
  let ready = false;
  let chain = Promise.resolve();

  const write = async (prefixes: string[]) => {
    const text = formatPrefixesYaml(prefixes);
    if (cfg.output.kind === "file") {
      mkdirSync(dirname(cfg.output.path), { recursive: true });
      writeFileSync(cfg.output.path, text, { mode: 0o600 });
      return;
    }
    const { namespace, name, key } = cfg.output;
    const cm = await core.readNamespacedConfigMap({ namespace, name });
    cm.data = { ...cm.data, [key]: text };
    await core.replaceNamespacedConfigMap({ namespace, name, body: cm });
  };
  const update = async (force = false) => {
    if (!ready) return;
    const { prefixes, invalid } = mergePrefixes([
      ...cfg.static,
      ...src.kubeadm,
      ...src.nodes,
      ...src.services,
      ...src.user,
    ]);
    if (invalid.length) log.warn({ invalid }, "exclude-prefixes: skipping entries that are not CIDRs");
    const same =
      written && written.length === prefixes.length && new Set([...written, ...prefixes]).size === prefixes.length;
    if (same && !force) return;
    try {
      await write(prefixes);
      written = prefixes;
      log.info({ prefixes }, "exclude-prefixes: written");
    } catch (err) {
      log.error({ err: apiMessage(err) }, "exclude-prefixes: writing the output failed");
      if (cfg.output.kind === "file") throw err;
    }
  };
  const schedule = (force = false) => {
    chain = chain.then(() => update(force)).catch((err: Error) => log.error({ err: err.message }, "exclude-prefixes"));
  };

  const one = (namespace: string, name: string) => ({
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    fieldSelector: `metadata.name=${name}`,
    list: () => core.listNamespacedConfigMap({ namespace, fieldSelector: `metadata.name=${name}` }),
    signal,
    log,
  });
  const infs = [
    informer<V1ConfigMap>(kc, {
      ...one("kube-system", "kubeadm-config"),
      onChange(objs) {
        src.kubeadm = kubeadmPrefixes([...objs.values()][0]);
        schedule();
      },
    }),
    informer<V1ConfigMap>(kc, {
      ...one(cfg.userConfigMap.namespace, cfg.userConfigMap.name),
      onChange(objs) {
        src.user = parsePrefixesYaml([...objs.values()][0]?.data?.[cfg.userConfigMap.key]);
        schedule();
      },
    }),
    informer<V1Node>(kc, {
      path: "/api/v1/nodes",
      list: () => core.listNode(),
      signal,
      log,
      onChange(objs) {
        src.nodes = [...objs.values()].map((n) => n.spec?.podCIDR ?? "").filter(Boolean);
        schedule();
      },
    }),
    informer<V1Service>(kc, {
      path: "/api/v1/services",
      list: () => core.listServiceForAllNamespaces(),
      signal,
      log,
      onChange(objs) {
        src.services = [...objs.values()]
          .map((s) => s.spec?.clusterIP ?? "")
          .filter((ip) => ip && ip !== "None")
          .map((ip) => (ip.includes(":") ? `${ip}/128` : `${ip}/32`));
        schedule();
      },
    }),
  ];
  if (cfg.output.kind === "config-map") {
    const out = cfg.output;
    infs.push(
      informer<V1ConfigMap>(kc, {
        ...one(out.namespace, out.name),
        onChange(objs) {
          // someone else changed our key: put the last written list back
          const text = [...objs.values()][0]?.data?.[out.key];
          if (written && text !== formatPrefixesYaml(written)) schedule(true);
        },
      }),
    );
  }
  await Promise.all(infs.map((i) => i.synced));
  ready = true;
  schedule();
  await chain;
  return {
    get current() {
      return written ?? [];
    },
  };
}
