/**
 * `nsm admission-webhook` end to end through a real kube-apiserver (one per file): the webhook
 * registers itself (selfregister, self-signed certificate, clientConfig.url), the test creates
 * objects and reads back what the API server stored. Also the review function on its own.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { AppsV1Api, CoreV1Api, type V1Pod } from "../../src/k8s/client.js";
import { readConfig, startAdmissionWebhook } from "../../src/cmd/admission-webhook.js";
import { review } from "../../src/k8s/webhook/mutate.js";
import type { Webhook } from "../../src/k8s/webhook/server.js";
import { silentLogger } from "../../src/tools/log.js";
import { apiServerSkip, startApiServer, type ApiServer } from "../helpers/kube-apiserver.js";

const skip = apiServerSkip();
if (skip) console.log(`# skipping admission-webhook tests: ${skip}`);
let api: ApiServer | undefined;
let core: CoreV1Api, apps: AppsV1Api;
let wh: Webhook | undefined;
const tag = `${process.pid}`;
const env = () => ({
  KUBECONFIG: api!.kubeconfig,
  NSM_WEBHOOK_MODE: "selfregister",
  NSM_NAME: `wh-${tag}`,
  NSM_LISTEN_ON: "tcp://127.0.0.1:0",
  NSM_INIT_CONTAINER_IMAGES: "ghcr.io/networkservicemesh/cmd-nsc-init:v1.13.2",
  NSM_CONTAINER_IMAGES: "ghcr.io/networkservicemesh/cmd-nsc:v1.13.2",
  NSM_LABELS: "spiffe.io/spiffe-id:true",
  NSM_ENVS: "NSM_LOG_LEVEL=TRACE,A=1",
});
const pod = (name: string, annotations?: Record<string, string>): V1Pod => ({
  metadata: { name, annotations, labels: { app: "x" } },
  spec: { containers: [{ name: "app", image: "alpine" }] },
});
const names = (cs: { name: string }[] | undefined) => (cs ?? []).map((c) => c.name);

before(async () => {
  if (skip) return;
  api = await startApiServer();
  core = api.kc.makeApiClient(CoreV1Api);
  apps = api.kc.makeApiClient(AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: `plain-${tag}` } } });
  await core.createNamespace({
    body: {
      metadata: {
        name: `annotated-${tag}`,
        annotations: { "networkservicemesh.io": "kernel://annotated-namespace/nsm-1" },
        labels: { "pod-security.kubernetes.io/enforce": "baseline" },
      },
    },
  });
  wh = await startAdmissionWebhook(readConfig(env()), { log: silentLogger });
});
after(async () => {
  await wh?.close();
  await api?.stop();
});

test("an annotated pod is stored with nsc-init, nsc, their env and volumes, and the labels", { skip }, async () => {
  const namespace = `plain-${tag}`;
  const p = await core.createNamespacedPod({
    namespace,
    body: pod("a1", { "networkservicemesh.io": "kernel://icmp/nsm-1" }),
  });
  assert.deepEqual(names(p.spec!.initContainers), ["cmd-nsc-init"]);
  assert.deepEqual(names(p.spec!.containers), ["app", "cmd-nsc"]);
  const envs = p.spec!.containers[1]!.env!;
  assert.deepEqual(
    envs.map((e) => e.name),
    ["NSM_LOG_LEVEL", "A", "SPIFFE_ENDPOINT_SOCKET", "POD_NAME", "NSM_NETWORK_SERVICES", "NSM_NAME"],
  );
  assert.equal(envs.find((e) => e.name === "NSM_NETWORK_SERVICES")!.value, "kernel://icmp/nsm-1");
  assert.equal(envs.find((e) => e.name === "POD_NAME")!.valueFrom!.fieldRef!.fieldPath, "metadata.name");
  assert.match(envs.find((e) => e.name === "NSM_NAME")!.value!, /^\$\(POD_NAME\)-[0-9a-f-]{36}$/);
  assert.deepEqual(
    p.spec!.volumes!.filter((v) => v.hostPath).map((v) => [v.name, v.hostPath!.path, v.hostPath!.type]),
    [
      ["spire-agent-socket", "/run/spire/sockets", "Directory"],
      ["nsm-socket", "/var/lib/networkservicemesh", "Directory"],
    ],
  );
  assert.deepEqual(p.metadata!.labels, { app: "x", "spiffe.io/spiffe-id": "true" });
  assert.equal(p.spec!.containers[1]!.resources!.limits!.memory, "80Mi");
  // what the API server stored, read back
  const stored = await core.readNamespacedPod({ namespace, name: "a1" });
  assert.deepEqual(names(stored.spec!.initContainers), ["cmd-nsc-init"]);
});

test(
  "a pod in an annotated (baseline) namespace is patched with CSI volumes; restricted adds a securityContext",
  { skip },
  async () => {
    const p = await core.createNamespacedPod({ namespace: `annotated-${tag}`, body: pod("n1") });
    assert.deepEqual(names(p.spec!.containers), ["app", "cmd-nsc"]);
    const initEnv = p.spec!.initContainers![0]!.env!;
    assert.equal(initEnv.find((e) => e.name === "NSM_NETWORK_SERVICES")!.value, "kernel://annotated-namespace/nsm-1");
    assert.deepEqual(
      p.spec!.volumes!.filter((v) => v.csi).map((v) => v.csi!.driver),
      ["csi.spiffe.io", "csi.networkservicemesh.io"],
    );
    assert.equal(p.spec!.containers[1]!.securityContext, undefined);
    // restricted (the API server's PodSecurity then also wants runAsNonRoot etc. from the pod, as upstream)
    const r = review(
      { uid: "u2", operation: "CREATE", kind: { kind: "Pod" }, object: pod("r1") as Record<string, unknown> },
      {
        metadata: {
          annotations: { "networkservicemesh.io": "kernel://x/nsm-1" },
          labels: { "pod-security.kubernetes.io/enforce": "restricted" },
        },
      },
      readConfig(env()),
    );
    const containers = r.ops!.find((o) => o.path === "/spec/containers")!.value as {
      securityContext?: { capabilities: { drop: string[] }; allowPrivilegeEscalation: boolean };
    }[];
    assert.deepEqual(containers[1]!.securityContext, {
      capabilities: { drop: ["ALL"] },
      allowPrivilegeEscalation: false,
    });
  },
);

test("no annotation: stored unchanged; a Deployment's annotation patches its template", { skip }, async () => {
  const namespace = `plain-${tag}`;
  const p = await core.createNamespacedPod({ namespace, body: pod("plain") });
  assert.deepEqual(names(p.spec!.containers), ["app"]);
  assert.equal(p.spec!.initContainers, undefined);
  const d = await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: "d1", annotations: { "networkservicemesh.io": "kernel://icmp/nsm-1" } },
      spec: {
        selector: { matchLabels: { app: "d1" } },
        template: { metadata: { labels: { app: "d1" } }, spec: { containers: [{ name: "app", image: "alpine" }] } },
      },
    },
  });
  assert.deepEqual(names(d.spec!.template.spec!.containers), ["app", "cmd-nsc"]);
  assert.equal(d.spec!.template.metadata!.labels!["spiffe.io/spiffe-id"], "true");
});

test("a malformed annotation: admitted without injection, with a warning naming the value", { skip }, async () => {
  const res = await core.createNamespacedPodWithHttpInfo({
    namespace: `plain-${tag}`,
    body: pod("bad", { "networkservicemesh.io": "icmp-without-scheme" }),
  });
  assert.deepEqual(names(res.data.spec!.containers), ["app"]);
  // the API server passes the webhook's warning on (kubectl prints it)
  assert.match(res.headers.warning ?? "", /icmp-without-scheme/);
  const r = review(
    {
      uid: "u1",
      operation: "CREATE",
      kind: { kind: "Pod" },
      object: pod("bad", { "networkservicemesh.io": "icmp-without-scheme" }) as Record<string, unknown>,
    },
    undefined,
    readConfig({ ...env(), NSM_WEBHOOK_MODE: "selfregister" }),
  );
  assert.equal(r.response.uid, "u1");
  assert.equal(r.response.allowed, true);
  assert.equal(r.response.patch, undefined);
  assert.match(r.response.warnings![0]!, /"icmp-without-scheme"/);
});

test("webhook down: pods are refused (failurePolicy Fail) until it deregisters on a clean stop", { skip }, async () => {
  const namespace = `plain-${tag}`;
  await wh!.close({ deregister: false }); // as if it crashed: the configuration stays
  await assert.rejects(core.createNamespacedPod({ namespace, body: pod("down") }), (err: Error) => {
    assert.match(err.message, /failed calling webhook/);
    return true;
  });
  wh = await startAdmissionWebhook(readConfig(env()), { log: silentLogger });
  const p = await core.createNamespacedPod({
    namespace,
    body: pod("up", { "networkservicemesh.io": "kernel://icmp/nsm-1" }),
  });
  assert.deepEqual(names(p.spec!.containers), ["app", "cmd-nsc"]);
  await wh.close(); // a clean stop removes the configuration: pods are admitted unpatched
  wh = undefined;
  const q = await core.createNamespacedPod({
    namespace,
    body: pod("after", { "networkservicemesh.io": "kernel://icmp/nsm-1" }),
  });
  assert.deepEqual(names(q.spec!.containers), ["app"]);
});
