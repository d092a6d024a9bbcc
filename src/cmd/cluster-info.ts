/**
 * `nsm cluster-info`: upstream's cmd-cluster-info-k8s — copies the cluster's ClusterProperty
 * objects (about.k8s.io) into the cluster-info ConfigMap that nsmgr-proxy mounts
 * (src/k8s/cluster-info.ts). Reads KUBECONFIG outside a cluster.
 */
import { startClusterInfo, type ClusterInfoConfig } from "../k8s/cluster-info.js";
import { readLogConfig } from "../networkservice/cmdutil.js";
import { envReader, type Env } from "../tools/env.js";
import { runController } from "./k8s-controller.js";

export const ENV_HELP = `nsm cluster-info — ClusterProperty objects → the cluster-info ConfigMap (YAML map)

  NSM_CONFIGMAP_NAME       cluster-info               ConfigMap to update (must exist)
  NSM_NAMESPACE            default                    its namespace
  NSM_TRANSLATION_MAP      id.k8s.io:clusterName      property name → key renames (k:v,k:v)
  NSM_FILE_NAME            config.yaml                data key inside the ConfigMap
  KUBECONFIG               (in-cluster)               kubeconfig outside a cluster
  NSM_LOG_LEVEL            INFO                       TRACE, DEBUG, INFO, WARN, ERROR, FATAL, PANIC
  NSM_LOG_FORMAT           (tty)                      text | json`;

export function readConfig(env: Env = process.env): ClusterInfoConfig & { kubeconfig?: string; logLevel: string } {
  const e = envReader(env);
  return {
    configMapName: e.string("NSM_CONFIGMAP_NAME", "cluster-info"),
    namespace: e.string("NSM_NAMESPACE", "default"),
    translation: e.map("NSM_TRANSLATION_MAP", { "id.k8s.io": "clusterName" }),
    fileName: e.string("NSM_FILE_NAME", "config.yaml"),
    kubeconfig: e.optional("KUBECONFIG"),
    logLevel: readLogConfig(e),
  };
}

export function run(args: string[]): Promise<number> {
  return runController({ component: "cluster-info", help: ENV_HELP, readConfig, start: startClusterInfo }, args);
}
