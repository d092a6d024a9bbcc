/**
 * `nsm admission-webhook`: upstream's cmd-admission-webhook-k8s — injects the nsc-init and nsc
 * containers into annotated pods (src/k8s/webhook). Configured by upstream's NSM_* variables;
 * ours adds NSM_LISTEN_ON (the HTTPS address, upstream's fixed :443 by default) and
 * NSM_WEBHOOK_URL (how the API server reaches it when it cannot use the Service), and reads
 * KUBECONFIG outside a cluster. In-process use: `startAdmissionWebhook(readConfig(env))`.
 */
import { readFileSync } from "node:fs";
import { loadKubeConfig } from "../k8s/kube.js";
import { selfSignedCert } from "../k8s/selfsigned.js";
import type { WebhookConfig } from "../k8s/webhook/mutate.js";
import { startWebhook, type Webhook } from "../k8s/webhook/server.js";
import { readLogConfig } from "../networkservice/cmdutil.js";
import { ConfigError, envReader, type Env } from "../tools/env.js";
import { type Logger, newLogger } from "../tools/log.js";
import { lifecycle } from "./lifecycle.js";

export const ENV_HELP = `nsm admission-webhook — mutating admission webhook: injects nsc-init + nsc into annotated pods

  NSM_NAME                      admission-webhook-k8s    name; also the MutatingWebhookConfiguration's (selfregister)
  NSM_SERVICE_NAME              default                  Service in front of the webhook (certificate names, registration)
  NSM_NAMESPACE                 default                  namespace of that Service
  NSM_ANNOTATION                networkservicemesh.io    annotation (pod, workload or namespace) that asks for injection
  NSM_LABELS                    (none)                   labels added to mutated pods (k:v,k:v)
  NSM_NSURL_ENV_NAME            NSM_NETWORK_SERVICES     env var that receives the annotation value
  NSM_INIT_CONTAINER_IMAGES     (none)                   init container images to add (comma-separated)
  NSM_CONTAINER_IMAGES          (none)                   sidecar images to add (comma-separated)
  NSM_ENVS                      (none)                   K=V,... added first to every injected container's env
  NSM_WEBHOOK_MODE              spire                    spire (certificate files; SPIRE's workload API not yet) | selfregister
  NSM_CERT_FILE_PATH            (none)                   TLS certificate file (with NSM_KEY_FILE_PATH)
  NSM_KEY_FILE_PATH             (none)                   TLS key file; without both, selfregister makes a self-signed certificate
  NSM_CA_BUNDLE_FILE_PATH       (none)                   CA bundle for the registered configuration (default: the certificate)
  NSM_SIDECAR_LIMITS_MEMORY     80Mi                     injected containers' memory limit
  NSM_SIDECAR_LIMITS_CPU        200m                     CPU limit
  NSM_SIDECAR_REQUESTS_MEMORY   40Mi                     memory request
  NSM_SIDECAR_REQUESTS_CPU      100m                     CPU request
  NSM_KUBELET_QPS               50                       accepted, not used
  NSM_LISTEN_ON                 tcp://:443               HTTPS address (ours; upstream listens on :443)
  NSM_WEBHOOK_URL               (service / listen)       URL the API server calls (ours): in a cluster the Service, else https://<listen>/mutate
  KUBECONFIG                    (in-cluster)             kubeconfig outside a cluster
  NSM_LOG_LEVEL                 INFO                     TRACE, DEBUG, INFO, WARN, ERROR, FATAL, PANIC
  NSM_LOG_FORMAT                (tty)                    text | json`;

export interface AdmissionWebhookConfig extends WebhookConfig {
  name: string;
  serviceName: string;
  namespace: string;
  mode: "spire" | "selfregister";
  certFile?: string;
  keyFile?: string;
  caBundleFile?: string;
  listenHost: string;
  listenPort: number;
  webhookUrl?: string;
  kubeconfig?: string;
  logLevel: string;
}

export function readConfig(env: Env = process.env): AdmissionWebhookConfig {
  const e = envReader(env);
  const mode = e.string("NSM_WEBHOOK_MODE", "spire").toLowerCase();
  if (mode !== "spire" && mode !== "selfregister")
    throw new ConfigError("NSM_WEBHOOK_MODE", mode, "must be spire or selfregister");
  const listen = e.url("NSM_LISTEN_ON", "tcp://:443");
  if (listen.scheme !== "tcp") throw new ConfigError("NSM_LISTEN_ON", listen.href, "must be tcp://host:port (HTTPS)");
  const certFile = e.optional("NSM_CERT_FILE_PATH"),
    keyFile = e.optional("NSM_KEY_FILE_PATH");
  if (mode === "spire" && !(certFile && keyFile))
    throw new ConfigError(
      "NSM_WEBHOOK_MODE",
      mode,
      "spire mode needs NSM_CERT_FILE_PATH and NSM_KEY_FILE_PATH here (no SPIRE workload API yet); or use selfregister",
    );
  return {
    name: e.string("NSM_NAME", "admission-webhook-k8s"),
    serviceName: e.string("NSM_SERVICE_NAME", "default"),
    namespace: e.string("NSM_NAMESPACE", "default"),
    annotation: e.string("NSM_ANNOTATION", "networkservicemesh.io"),
    labels: e.map("NSM_LABELS"),
    nsurlEnvName: e.string("NSM_NSURL_ENV_NAME", "NSM_NETWORK_SERVICES"),
    initContainerImages: e.list("NSM_INIT_CONTAINER_IMAGES", []),
    containerImages: e.list("NSM_CONTAINER_IMAGES", []),
    envs: e.list("NSM_ENVS", []),
    mode,
    certFile,
    keyFile,
    caBundleFile: e.optional("NSM_CA_BUNDLE_FILE_PATH"),
    limitsMemory: e.string("NSM_SIDECAR_LIMITS_MEMORY", "80Mi"),
    limitsCpu: e.string("NSM_SIDECAR_LIMITS_CPU", "200m"),
    requestsMemory: e.string("NSM_SIDECAR_REQUESTS_MEMORY", "40Mi"),
    requestsCpu: e.string("NSM_SIDECAR_REQUESTS_CPU", "100m"),
    listenHost: listen.host ?? "",
    listenPort: listen.port ?? 443,
    webhookUrl: e.optional("NSM_WEBHOOK_URL"),
    kubeconfig: e.optional("KUBECONFIG"),
    logLevel: readLogConfig(e),
  };
}

/** Starts the webhook as `nsm admission-webhook` does (registering itself in selfregister mode). */
export async function startAdmissionWebhook(cfg: AdmissionWebhookConfig, o: { log?: Logger } = {}): Promise<Webhook> {
  const log = o.log ?? newLogger({ component: "admission-webhook", level: cfg.logLevel });
  const kc = loadKubeConfig(cfg.kubeconfig ?? "");
  const inCluster = !cfg.kubeconfig && Boolean(process.env.KUBERNETES_SERVICE_HOST);
  const host =
    !cfg.listenHost || cfg.listenHost === "0.0.0.0" || cfg.listenHost === "::" ? "127.0.0.1" : cfg.listenHost;
  const tls =
    cfg.certFile && cfg.keyFile
      ? { certPem: readFileSync(cfg.certFile, "utf8"), keyPem: readFileSync(cfg.keyFile, "utf8") }
      : selfSignedCert({
          commonName: `networkservicemesh.${cfg.serviceName}-ca`,
          dnsNames: [`${cfg.serviceName}.${cfg.namespace}`, `${cfg.serviceName}.${cfg.namespace}.svc`, "localhost"],
          ips: [host],
        });
  const useUrl = cfg.webhookUrl !== undefined || !inCluster;
  const wh = await startWebhook({
    kc,
    cfg,
    host: cfg.listenHost,
    port: cfg.listenPort,
    tls,
    log,
    register:
      cfg.mode === "selfregister"
        ? {
            name: cfg.name,
            annotation: cfg.annotation,
            caBundlePem: cfg.caBundleFile ? readFileSync(cfg.caBundleFile, "utf8") : tls.certPem,
            url: useUrl
              ? (cfg.webhookUrl ?? ((port) => `https://${host.includes(":") ? `[${host}]` : host}:${port}/mutate`))
              : undefined,
            service: { namespace: cfg.namespace, name: cfg.serviceName },
          }
        : undefined,
  });
  log.info({ port: wh.port, mode: cfg.mode }, "Startup completed");
  return wh;
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const log = newLogger({ component: "admission-webhook", level: cfg.logLevel });
  const lc = lifecycle({ log });
  const wh = await lc.start(startAdmissionWebhook(cfg, { log }), (w) => w.close());
  if (!wh) return lc.exitCode;
  return lc.shutdown(() => wh.close());
}
