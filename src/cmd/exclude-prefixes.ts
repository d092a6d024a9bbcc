/**
 * `nsm exclude-prefixes`: upstream's cmd-exclude-prefixes-k8s — the cluster's pod, service and
 * node ranges (plus static and user lists), merged, written where nsmgr's IPAM reads them
 * (src/k8s/exclude-prefixes.ts). Reads KUBECONFIG outside a cluster.
 */
import { existsSync, readFileSync } from "node:fs";
import { startExcludePrefixes, type ExcludePrefixesConfig } from "../k8s/exclude-prefixes.js";
import { SA_NAMESPACE_FILE } from "../k8s/kube.js";
import { parseCidr } from "../k8s/prefixes.js";
import { readLogConfig } from "../networkservice/cmdutil.js";
import { ConfigError, envReader, type Env } from "../tools/env.js";
import { runController } from "./k8s-controller.js";

export const ENV_HELP = `nsm exclude-prefixes — cluster CIDRs NSM must not hand out → file or ConfigMap

  NSM_EXCLUDED_PREFIXES        (none)                                        static CIDRs (comma-separated; invalid → exit)
  NSM_CONFIG_MAP_NAMESPACE     default                                       namespace of the user input ConfigMap
  NSM_CONFIG_MAP_NAME          excluded-prefixes-config                      user input ConfigMap
  NSM_CONFIG_MAP_KEY           excluded_prefixes_input.yaml                  its key (YAML prefixes: [...])
  NSM_OUTPUT_CONFIG_MAP_NAME   nsm-config                                    output ConfigMap (config-map mode)
  NSM_OUTPUT_CONFIG_MAP_KEY    excluded_prefixes_output.yaml                 output key
  NSM_OUTPUT_FILE_PATH         /var/lib/networkservicemesh/config/excluded_prefixes.yaml   output file (file mode)
  NSM_PREFIXES_OUTPUT_TYPE     file                                          file | config-map
  KUBECONFIG                   (in-cluster)                                  kubeconfig outside a cluster
  NSM_LOG_LEVEL                INFO                                          TRACE, DEBUG, INFO, WARN, ERROR, FATAL, PANIC
  NSM_LOG_FORMAT               (tty)                                         text | json
The output ConfigMap lives in the pod's namespace (service account), else NSM_CONFIG_MAP_NAMESPACE.`;

export function readConfig(env: Env = process.env): ExcludePrefixesConfig & { kubeconfig?: string; logLevel: string } {
  const e = envReader(env);
  const statics = e.list("NSM_EXCLUDED_PREFIXES", []);
  for (const p of statics) if (!parseCidr(p)) throw new ConfigError("NSM_EXCLUDED_PREFIXES", p, "is not a CIDR");
  const type = e.string("NSM_PREFIXES_OUTPUT_TYPE", "file");
  if (type !== "file" && type !== "config-map")
    throw new ConfigError("NSM_PREFIXES_OUTPUT_TYPE", type, "must be file or config-map");
  const inNs = e.string("NSM_CONFIG_MAP_NAMESPACE", "default");
  const ownNs = existsSync(SA_NAMESPACE_FILE) ? readFileSync(SA_NAMESPACE_FILE, "utf8").trim() : inNs;
  return {
    static: statics,
    userConfigMap: {
      namespace: inNs,
      name: e.string("NSM_CONFIG_MAP_NAME", "excluded-prefixes-config"),
      key: e.string("NSM_CONFIG_MAP_KEY", "excluded_prefixes_input.yaml"),
    },
    output:
      type === "file"
        ? {
            kind: "file",
            path: e.string("NSM_OUTPUT_FILE_PATH", "/var/lib/networkservicemesh/config/excluded_prefixes.yaml"),
          }
        : {
            kind: "config-map",
            namespace: ownNs,
            name: e.string("NSM_OUTPUT_CONFIG_MAP_NAME", "nsm-config"),
            key: e.string("NSM_OUTPUT_CONFIG_MAP_KEY", "excluded_prefixes_output.yaml"),
          },
    kubeconfig: e.optional("KUBECONFIG"),
    logLevel: readLogConfig(e),
  };
}

export function run(args: string[]): Promise<number> {
  return runController(
    { component: "exclude-prefixes", help: ENV_HELP, readConfig, start: startExcludePrefixes },
    args,
  );
}
