/**
 * The `k8s` registry store: NetworkService / NetworkServiceEndpoint custom resources (upstream
 * cmd-registry-k8s's CRDs, installed when missing) in one namespace, through the API server.
 * The Kubernetes side lives in src/k8s (cr-store.ts, registry-crd.ts); this only picks the kind.
 */
import type { NetworkService, NetworkServiceEndpoint } from "../../api/index.js";
import { crStore } from "../../k8s/cr-store.js";
import { ensureCrds, ensureNamespace, loadKubeConfig } from "../../k8s/kube.js";
import {
  NS_KIND,
  NSE_KIND,
  nseFromSpec,
  nseToSpec,
  nsFromSpec,
  nsToSpec,
  registryCrd,
} from "../../k8s/registry-crd.js";
import type { RegistryStore } from "./store.js";

export async function openK8sStore<T>(o: {
  namespace: string;
  entity: "ns" | "nse";
  kubeconfig?: string;
}): Promise<RegistryStore<T>> {
  const kc = loadKubeConfig(o.kubeconfig);
  await ensureCrds(kc, [registryCrd(NS_KIND), registryCrd(NSE_KIND)]);
  await ensureNamespace(kc, o.namespace);
  const store =
    o.entity === "ns"
      ? crStore<NetworkService>({
          kubeConfig: kc,
          namespace: o.namespace,
          crKind: NS_KIND,
          toSpec: nsToSpec,
          fromSpec: nsFromSpec,
        })
      : crStore<NetworkServiceEndpoint>({
          kubeConfig: kc,
          namespace: o.namespace,
          crKind: NSE_KIND,
          toSpec: nseToSpec,
          fromSpec: nseFromSpec,
        });
  return store as unknown as RegistryStore<T>;
}
