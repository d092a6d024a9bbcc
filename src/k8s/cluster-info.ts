/**
 * cluster-info (upstream cmd-cluster-info-k8s): publishes the cluster's ClusterProperty objects
 * (about.k8s.io, e.g. `id.k8s.io = cluster1`) as a YAML map in a ConfigMap that nsmgr-proxy
 * mounts (`clusterName: cluster1` under key config.yaml of ConfigMap cluster-info). Property
 * names are renamed through the translation map; keys are added or overwritten, never removed;
 * the ConfigMap is updated only when something changed and must already exist. Upstream polls
 * every second; this watches the properties and the ConfigMap (both resume from their
 * resourceVersion), so a change lands at once and a re-created ConfigMap is filled again.
 *
 *   const ci = await startClusterInfo(kc, { configMapName: "cluster-info", namespace: "nsm-system",
 *     translation: { "id.k8s.io": "clusterName" }, fileName: "config.yaml" }, signal);
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  dumpYaml,
  loadYaml,
  type KubeConfig,
  type KubernetesObject,
  type V1ConfigMap,
  type V1CustomResourceDefinition,
} from "./client.js";
import { informer, type ListResult } from "./informer.js";
import { apiMessage, apiStatus } from "./kube.js";
import { type Logger, silentLogger } from "../tools/log.js";

export const ABOUT_GROUP = "about.k8s.io";

/** kubernetes-sigs/about-api's ClusterProperty CRD (v1alpha1 served and stored, v1beta1 served). */
export function clusterPropertyCrd(): V1CustomResourceDefinition {
  const schema = {
    openAPIV3Schema: {
      type: "object",
      properties: {
        spec: {
          type: "object",
          required: ["value"],
          properties: { value: { type: "string", minLength: 1, maxLength: 128000 } },
        },
      },
    },
  };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `clusterproperties.${ABOUT_GROUP}`,
      // k8s.io groups need an approved API review; about-api's CRD carries its KEP's
      annotations: { "api-approved.kubernetes.io": "https://github.com/kubernetes/enhancements/pull/3084" },
    },
    spec: {
      group: ABOUT_GROUP,
      scope: "Cluster",
      names: {
        kind: "ClusterProperty",
        listKind: "ClusterPropertyList",
        plural: "clusterproperties",
        singular: "clusterproperty",
      },
      versions: [
        { name: "v1alpha1", served: true, storage: true, schema },
        { name: "v1beta1", served: true, storage: false, schema },
      ],
    },
  };
}

export interface ClusterInfoConfig {
  configMapName: string;
  namespace: string;
  translation: Record<string, string>;
  fileName: string;
}

type Property = KubernetesObject & { spec?: { value?: string } };

/** The properties as the ConfigMap's map: renamed keys, spec.value as value. */
export function propertyMap(props: Iterable<Property>, translation: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of props) {
    const name = p.metadata?.name ?? "";
    if (name && p.spec?.value) out[translation[name] ?? name] = p.spec.value;
  }
  return out;
}

export async function startClusterInfo(
  kc: KubeConfig,
  cfg: ClusterInfoConfig,
  signal: AbortSignal,
  log: Logger = silentLogger,
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  let want: Record<string, string> = {};
  let chain = Promise.resolve();

  const apply = async () => {
    let cm: V1ConfigMap;
    try {
      cm = await core.readNamespacedConfigMap({ name: cfg.configMapName, namespace: cfg.namespace });
    } catch (err) {
      log.warn(
        { configMap: `${cfg.namespace}/${cfg.configMapName}`, err: apiMessage(err) },
        "cluster-info: no ConfigMap",
      );
      return;
    }
    let cur: Record<string, unknown> = {};
    try {
      cur = loadYaml<Record<string, unknown>>(cm.data?.[cfg.fileName] ?? "") ?? {};
    } catch (err) {
      log.warn({ err: (err as Error).message }, `cluster-info: ${cfg.fileName} is not YAML; rewriting it`);
    }
    let changed = false;
    for (const [k, v] of Object.entries(want)) {
      if (cur[k] !== v) {
        cur[k] = v;
        changed = true;
      }
    }
    if (!changed) return;
    cm.data = { ...cm.data, [cfg.fileName]: dumpYaml(cur) };
    try {
      await core.replaceNamespacedConfigMap({ name: cfg.configMapName, namespace: cfg.namespace, body: cm });
      log.info({ properties: want }, "cluster-info: ConfigMap updated");
    } catch (err) {
      // 409: changed meanwhile; the ConfigMap watch brings us back here
      if (apiStatus(err) !== 409) log.warn({ err: apiMessage(err) }, "cluster-info: updating the ConfigMap failed");
    }
  };
  const schedule = () => {
    chain = chain.then(apply, apply);
  };

  const props = informer<Property>(kc, {
    path: `/apis/${ABOUT_GROUP}/v1alpha1/clusterproperties`,
    list: async () =>
      (await custom.listClusterCustomObject({
        group: ABOUT_GROUP,
        version: "v1alpha1",
        plural: "clusterproperties",
      })) as ListResult<Property>,
    signal,
    log,
    onChange(objs) {
      want = propertyMap(objs.values(), cfg.translation);
      schedule();
    },
  });
  const cms = informer<V1ConfigMap>(kc, {
    path: `/api/v1/namespaces/${cfg.namespace}/configmaps`,
    fieldSelector: `metadata.name=${cfg.configMapName}`,
    list: () =>
      core.listNamespacedConfigMap({ namespace: cfg.namespace, fieldSelector: `metadata.name=${cfg.configMapName}` }),
    signal,
    log,
    onChange: () => schedule(),
  });
  await Promise.all([props.synced, cms.synced]);
  await chain;
}
