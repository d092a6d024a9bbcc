/**
 * A throwaway Kubernetes API server (kube-apiserver v1.31.4 on its own etcd, loopback ports,
 * own temp dir) for the tests of the k8s components, started with the apiserver.sh that
 * scripts/setup.sh installs from ../shared/k8s. One per test file: start it in `before`, stop
 * it in `after`. Pods are stored, never run (no kubelet or scheduler).
 *
 *   const skip = apiServerSkip();             // a reason string when it is not installed
 *   const api = await startApiServer();       // api.kubeconfig (path), api.kc (KubeConfig)
 *   ...; await api.stop();
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { KubeConfig } from "../../src/k8s/client.js";

const run = promisify(execFile);
export const APISERVER_DIR = process.env.NSM_K8S_TEST_DIR ?? "/usr/local/lib/nsm-test";
const SCRIPT = join(APISERVER_DIR, "apiserver.sh");
const BIN = join(APISERVER_DIR, "kube-apiserver-v1.31.4");

/** Why the API server tests cannot run here, or false when they can. */
export function apiServerSkip(): string | false {
  if (!existsSync(SCRIPT) || !existsSync(BIN))
    return `kube-apiserver not installed (${SCRIPT}, ${BIN}: scripts/setup.sh installs them from ../shared/k8s)`;
  if (!existsSync("/usr/bin/etcd")) return "etcd not installed (Debian package etcd-server)";
  return false;
}

export interface ApiServer {
  readonly dir: string;
  readonly kubeconfig: string;
  readonly kc: KubeConfig;
  stop(): Promise<void>;
}

export async function startApiServer(): Promise<ApiServer> {
  const dir = mkdtempSync(join(tmpdir(), `nsm-k8s-${process.pid}-`));
  try {
    const { stdout } = await run(SCRIPT, ["start", dir], { timeout: 60_000 });
    const kubeconfig = stdout.trim().split("\n").pop()!;
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    let stopped: Promise<void> | undefined;
    return {
      dir,
      kubeconfig,
      kc,
      stop() {
        stopped ??= run(SCRIPT, ["stop", dir], { timeout: 30_000 })
          .then(() => {})
          .finally(() => rmSync(dir, { recursive: true, force: true }));
        return stopped;
      },
    };
  } catch (err) {
    await run(SCRIPT, ["stop", dir]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
