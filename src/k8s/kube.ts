/**
 * Kubernetes client plumbing shared by every k8s component: loading the config (a kubeconfig
 * file from KUBECONFIG or the argument, else the in-cluster service account, as upstream's
 * components do), reading the HTTP status out of a client error, and installing CRDs.
 * Every call goes through @kubernetes/client-node.
 *
 *   const kc = loadKubeConfig();                 // KUBECONFIG or in-cluster
 *   await ensureCrds(kc, [networkServiceCrd()]); // creates what is missing, waits for Established
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ApiextensionsV1Api, CoreV1Api, KubeConfig, type V1CustomResourceDefinition } from "./client.js";

export { KubeConfig };

/** The namespace file the service account mounts in a pod. */
export const SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/**
 * A KubeConfig from `path`, else $KUBECONFIG, else the in-cluster service account (when
 * KUBERNETES_SERVICE_HOST is set), else ~/.kube/config. Throws naming what it tried.
 */
export function loadKubeConfig(path = process.env.KUBECONFIG ?? ""): KubeConfig {
  const kc = new KubeConfig();
  const file = path.split(":").find((p) => p !== "");
  if (file) {
    if (!existsSync(file)) throw new Error(`kubeconfig "${file}" (KUBECONFIG) does not exist`);
    kc.loadFromFile(file);
  } else if (process.env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
  } else if (existsSync(join(homedir(), ".kube", "config"))) {
    kc.loadFromFile(join(homedir(), ".kube", "config"));
  } else {
    throw new Error("no Kubernetes config: set KUBECONFIG or run in a cluster (KUBERNETES_SERVICE_HOST)");
  }
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig "${file ?? "in-cluster"}" has no current cluster`);
  return kc;
}

/** The HTTP status of a failed client-node call (ApiException.code or a watch's statusCode). */
export function apiStatus(err: unknown): number | undefined {
  if (err && typeof err === "object") {
    const e = err as { code?: unknown; statusCode?: unknown };
    if (typeof e.code === "number") return e.code;
    if (typeof e.statusCode === "number") return e.statusCode;
  }
  return undefined;
}

/** A one-line message for a failed call: the API server's Status message when there is one. */
export function apiMessage(err: unknown): string {
  if (err && typeof err === "object" && "body" in err) {
    let body = (err as { body: unknown }).body;
    if (typeof body === "string") {
      try {
        body = JSON.parse(body);
      } catch {
        /* plain text */
      }
    }
    const msg = (body as { message?: unknown } | undefined)?.message;
    if (typeof msg === "string") return `${apiStatus(err)}: ${msg}`;
  }
  return err instanceof Error ? err.message.split("\n")[0]! : String(err);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Creates each CRD that does not exist yet and waits until every one is Established (the API
 * server serves its resource). Existing CRDs are left as they are.
 */
export async function ensureCrds(kc: KubeConfig, crds: V1CustomResourceDefinition[], timeoutMs = 20_000) {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    try {
      await api.createCustomResourceDefinition({ body: crd });
    } catch (err) {
      if (apiStatus(err) !== 409) throw new Error(`creating CRD ${name}: ${apiMessage(err)}`, { cause: err });
    }
    for (;;) {
      const cur = await api.readCustomResourceDefinition({ name });
      if (cur.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms`);
      await sleep(50);
    }
  }
}

/**
 * Creates namespace `name` if it does not exist. A caller without the right to read or create
 * namespaces (403) goes on: the namespace may well exist.
 */
export async function ensureNamespace(kc: KubeConfig, name: string): Promise<void> {
  const api = kc.makeApiClient(CoreV1Api);
  try {
    await api.readNamespace({ name });
    return;
  } catch (err) {
    const code = apiStatus(err);
    if (code === 403) return;
    if (code !== 404) throw new Error(`reading namespace ${name}: ${apiMessage(err)}`, { cause: err });
  }
  try {
    await api.createNamespace({ body: { metadata: { name } } });
  } catch (err) {
    const code = apiStatus(err);
    if (code !== 409 && code !== 403) throw new Error(`creating namespace ${name}: ${apiMessage(err)}`, { cause: err });
  }
}
