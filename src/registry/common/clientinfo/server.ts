/**
 * clientinfo: adds nodeName/podName/clusterName (from NODE_NAME, POD_NAME, CLUSTER_NAME) to the
 * labels of every service an NSE registers, without overwriting labels it set itself.
 * upstream: sdk pkg/registry/common/clientinfo.
 */
import {
  create,
  NetworkServiceLabelsSchema,
  type NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
} from "../../../api/index.js";
import type { RegistryElement } from "../../../core/index.js";

export function clientInfoNse(
  env: Readonly<Record<string, string | undefined>> = process.env,
): RegistryElement<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse> {
  const info: Record<string, string> = {};
  for (const [k, v] of [
    ["nodeName", env.NODE_NAME],
    ["podName", env.POD_NAME],
    ["clusterName", env.CLUSTER_NAME],
  ] as const)
    if (v) info[k] = v;
  return {
    async register(nse, ctx, next) {
      if (Object.keys(info).length) {
        for (const svc of nse.networkServiceNames) {
          const l = (nse.networkServiceLabels[svc] ??= create(NetworkServiceLabelsSchema));
          for (const [k, v] of Object.entries(info)) if (!(k in l.labels)) l.labels[k] = v;
        }
      }
      return next.register(nse, ctx);
    },
  };
}
