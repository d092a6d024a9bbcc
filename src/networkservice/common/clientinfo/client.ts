/** clientInfoClient: adds nodeName/podName/clusterName labels from NODE_NAME/POD_NAME/CLUSTER_NAME, never overwriting. */
import { clientInfoLabels } from "../../../api/index.js";
import type { ClientElement } from "../../../core/index.js";

export function clientInfoClient(env: Readonly<Record<string, string | undefined>> = process.env): ClientElement {
  const add: Record<string, string> = {};
  for (const [v, label] of Object.entries(clientInfoLabels)) if (env[v]) add[label] = env[v]!;
  return {
    async request(req, ctx, next) {
      const l = req.connection!.labels;
      for (const [k, v] of Object.entries(add)) if (!(k in l)) l[k] = v;
      return next.request(req, ctx);
    },
  };
}
