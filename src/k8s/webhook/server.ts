/**
 * The admission webhook server (upstream cmd-admission-webhook-k8s): HTTPS, `POST /mutate`
 * answers AdmissionReview v1 (see mutate.ts), `GET /ready` answers 200. With `register`, it
 * installs its MutatingWebhookConfiguration at start (deleting a stale one of the same name
 * first) and deletes it on close, as upstream's selfregister mode: rules CREATE and UPDATE on
 * pods and apps/v1 deployments, statefulsets, daemonsets, replicasets; failurePolicy Fail;
 * sideEffects None. The API server reaches it through a Service (in a cluster, upstream's
 * way) or a URL (outside one, or when the API server has no service proxy).
 *
 *   const wh = await startWebhook({ kc, cfg, host: "127.0.0.1", port: 0, tls: selfSignedCert(...), register: {...} });
 *   ...; await wh.close();
 */
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { type Logger, silentLogger } from "../../tools/log.js";
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
} from "../client.js";
import { apiMessage, apiStatus } from "../kube.js";
import { review, type AdmissionRequest, type WebhookConfig } from "./mutate.js";

export interface WebhookRegistration {
  /** MutatingWebhookConfiguration name (upstream: NSM_NAME) */
  name: string;
  /** webhook name suffix: `<name>.<annotation>` */
  annotation: string;
  /** the API server calls this URL (a function gets the bound port) ... */
  url?: string | ((port: number) => string);
  /** ... or this Service (upstream) */
  service?: { namespace: string; name: string };
  caBundlePem: string;
}

export interface WebhookOptions {
  kc: KubeConfig;
  cfg: WebhookConfig;
  host: string;
  port: number;
  tls: { certPem: string; keyPem: string };
  register?: WebhookRegistration;
  log?: Logger;
}

export interface Webhook {
  readonly port: number;
  /** stops serving; `deregister: false` leaves the configuration (a crash, as seen by the API server) */
  close(o?: { deregister?: boolean }): Promise<void>;
}

const NS_TIMEOUT_MS = 1000;

export function webhookConfiguration(r: WebhookRegistration & { url?: string }): V1MutatingWebhookConfiguration {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: r.name },
    webhooks: [
      {
        name: `${r.name}.${r.annotation}`,
        admissionReviewVersions: ["v1"],
        sideEffects: "None",
        failurePolicy: "Fail",
        clientConfig: {
          caBundle: Buffer.from(r.caBundlePem).toString("base64"),
          ...(r.url ? { url: r.url } : { service: { ...r.service!, path: "/mutate" } }),
        },
        rules: [
          { operations: ["CREATE", "UPDATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] },
          {
            operations: ["CREATE", "UPDATE"],
            apiGroups: ["apps"],
            apiVersions: ["v1"],
            resources: ["deployments", "statefulsets", "daemonsets", "replicasets"],
          },
        ],
      },
    ],
  };
}

export async function startWebhook(o: WebhookOptions): Promise<Webhook> {
  const log = o.log ?? silentLogger;
  const core = o.kc.makeApiClient(CoreV1Api);
  const admission = o.kc.makeApiClient(AdmissionregistrationV1Api);

  const namespaceOf = async (name: string | undefined) => {
    if (!name) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      return (await Promise.race([
        core.readNamespace({ name }),
        new Promise<undefined>((_, rej) => (timer = setTimeout(() => rej(new Error("timeout")), NS_TIMEOUT_MS))),
      ])) as unknown as Record<string, unknown>;
    } catch (err) {
      log.warn({ namespace: name, err: apiMessage(err) }, "admission-webhook: reading the namespace failed");
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };

  const mutate = async (body: string): Promise<unknown> => {
    const rv = JSON.parse(body) as { apiVersion?: string; request?: AdmissionRequest };
    const req = rv.request;
    if (!req?.uid) throw new Error("AdmissionReview without request.uid");
    const ns = await namespaceOf(req.namespace);
    const r = review(req, ns, o.cfg);
    log.info({ uid: req.uid, kind: req.kind?.kind, namespace: req.namespace, why: r.why }, "admission-webhook: review");
    return { apiVersion: rv.apiVersion ?? "admission.k8s.io/v1", kind: "AdmissionReview", response: r.response };
  };

  const server: Server = createServer({ cert: o.tls.certPem, key: o.tls.keyPem }, (req, res) => {
    if (req.method === "GET" && req.url === "/ready") {
      res.writeHead(200).end("ok");
      return;
    }
    if (req.method !== "POST" || req.url?.split("?")[0] !== "/mutate") {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      mutate(Buffer.concat(chunks).toString())
        .then((out) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(out)))
        .catch((err: Error) => {
          log.warn({ err: err.message }, "admission-webhook: bad request");
          res.writeHead(400).end(err.message);
        });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host || undefined, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const reg = o.register && {
    ...o.register,
    url: typeof o.register.url === "function" ? o.register.url(port) : o.register.url,
  };
  const deregister = async () => {
    if (!reg) return;
    try {
      await admission.deleteMutatingWebhookConfiguration({ name: reg.name });
    } catch (err) {
      if (apiStatus(err) !== 404)
        throw new Error(`deleting MutatingWebhookConfiguration ${reg.name}: ${apiMessage(err)}`, { cause: err });
    }
  };
  if (reg) {
    try {
      await deregister();
      await admission.createMutatingWebhookConfiguration({ body: webhookConfiguration(reg) });
    } catch (err) {
      server.close();
      throw new Error(`registering MutatingWebhookConfiguration ${reg.name}: ${apiMessage(err)}`, { cause: err });
    }
    log.info({ name: reg.name, url: reg.url, service: reg.service }, "admission-webhook: registered");
  }
  let closed: Promise<void> | undefined;
  return {
    port,
    close(c = {}) {
      closed ??= (async () => {
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
        if (c.deregister !== false) await deregister();
      })();
      return closed;
    },
  };
}
