/**
 * The process shape shared by the Kubernetes controller commands (`nsm cluster-info`,
 * `nsm exclude-prefixes`): --help, config from the environment, a kubeconfig (KUBECONFIG or
 * in-cluster), the controller started under the command lifecycle, stopped by a signal.
 */
import { loadKubeConfig, type KubeConfig } from "../k8s/kube.js";
import { newLogger, type Logger } from "../tools/log.js";
import { lifecycle } from "./lifecycle.js";

export interface ControllerCommand<C extends { kubeconfig?: string; logLevel: string }> {
  component: string;
  help: string;
  readConfig(): C;
  /** resolves once the controller runs; it stops when `signal` aborts */
  start(kc: KubeConfig, cfg: NoInfer<C>, signal: AbortSignal, log: Logger): Promise<unknown>;
}

export async function runController<C extends { kubeconfig?: string; logLevel: string }>(
  c: ControllerCommand<C>,
  args: string[],
): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(c.help);
    return 0;
  }
  const cfg = c.readConfig();
  const log = newLogger({ component: c.component, level: cfg.logLevel });
  const lc = lifecycle({ log });
  const kc = loadKubeConfig(cfg.kubeconfig ?? "");
  const ok = await lc.start(
    c.start(kc, cfg, lc.signal, log).then(() => true),
    async () => {},
  );
  if (!ok) return lc.exitCode;
  log.info(cfg as object, "Startup completed");
  return lc.shutdown(async () => {});
}
