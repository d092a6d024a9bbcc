import { test } from "node:test";
import assert from "node:assert/strict";
import {
  annotationProblem,
  containerName,
  review,
  type AdmissionRequest,
  type PatchOp,
  type WebhookConfig,
} from "./mutate.js";

const cfg: WebhookConfig = {
  annotation: "networkservicemesh.io",
  labels: { "spiffe.io/spiffe-id": "true" },
  nsurlEnvName: "NSM_NETWORK_SERVICES",
  initContainerImages: ["reg/cmd-nsc-init:v1"],
  containerImages: ["reg/x/cmd-nsc:v1"],
  envs: ["A=1", "B=2"],
  limitsMemory: "80Mi",
  limitsCpu: "200m",
  requestsMemory: "40Mi",
  requestsCpu: "100m",
};
const ann = { "networkservicemesh.io": "kernel://a/nsm-1" };
const req = (kind: string, object: Record<string, unknown>, operation = "CREATE"): AdmissionRequest => ({
  uid: "uid-1",
  kind: { kind },
  operation,
  object,
});
const op = (ops: PatchOp[] | undefined, path: string) =>
  ops?.find((o) => o.path === path)?.value as Record<string, unknown>[];

test("a Pod: four adds, uid kept, JSONPatch, env order, NSM_NAME with generateName", () => {
  const r = review(
    req("Pod", { metadata: { generateName: "p-", annotations: ann }, spec: { containers: [{ name: "app" }] } }),
    undefined,
    cfg,
  );
  assert.equal(r.response.uid, "uid-1");
  assert.equal(r.response.patchType, "JSONPatch");
  assert.deepEqual(
    r.ops!.map((o) => o.path),
    ["/spec/initContainers", "/spec/containers", "/spec/volumes", "/metadata/labels"],
  );
  assert.deepEqual(JSON.parse(Buffer.from(r.response.patch!, "base64").toString()), r.ops);
  const nsc = op(r.ops, "/spec/containers")[1] as { name: string; env: { name: string; value?: string }[] };
  assert.equal(nsc.name, "cmd-nsc");
  assert.deepEqual(
    nsc.env.map((e) => e.name),
    ["A", "B", "SPIFFE_ENDPOINT_SOCKET", "POD_NAME", "NSM_NETWORK_SERVICES", "NSM_NAME"],
  );
  assert.equal(nsc.env.at(-1)!.value, "$(POD_NAME)");
  assert.equal(containerName("ghcr.io/networkservicemesh/cmd-nsc-init:v1.13.2"), "cmd-nsc-init");
});

test("workloads: template paths; template annotations → malformed; RS of a Deployment, UPDATE, other kinds → nothing", () => {
  const tpl = { metadata: { labels: { app: "d" } }, spec: { containers: [{ name: "app" }] } };
  const d = review(
    req("Deployment", { metadata: { name: "d", annotations: ann }, spec: { template: tpl } }),
    undefined,
    cfg,
  );
  assert.deepEqual(
    d.ops!.map((o) => o.path),
    [
      "/spec/template/spec/initContainers",
      "/spec/template/spec/containers",
      "/spec/template/spec/volumes",
      "/spec/template/metadata/labels",
    ],
  );
  const bad = review(
    req("Deployment", {
      metadata: { name: "d", annotations: ann },
      spec: { template: { ...tpl, metadata: { annotations: { x: "y" } } } },
    }),
    undefined,
    cfg,
  );
  assert.equal(bad.response.patch, undefined);
  assert.match(bad.response.warnings![0]!, /malformed/);
  const onTemplate = review(
    req("Deployment", { metadata: { name: "d" }, spec: { template: { ...tpl, metadata: { annotations: ann } } } }),
    undefined,
    cfg,
  );
  assert.equal(onTemplate.response.patch, undefined);
  const rs = review(
    req("ReplicaSet", {
      metadata: { annotations: ann, ownerReferences: [{ kind: "Deployment", name: "d" }] },
      spec: { template: tpl },
    }),
    undefined,
    cfg,
  );
  assert.equal(rs.response.patch, undefined);
  assert.equal(
    review(req("Pod", { metadata: { annotations: ann } }, "UPDATE"), undefined, cfg).response.patch,
    undefined,
  );
  assert.equal(review(req("Service", { metadata: { annotations: ann } }), undefined, cfg).response.patch, undefined);
  // a Deployment does not inherit its namespace's annotation; a Pod does
  const nsAnn = { metadata: { annotations: ann } };
  assert.equal(
    review(req("Deployment", { metadata: {}, spec: { template: tpl } }), nsAnn, cfg).response.patch,
    undefined,
  );
  assert.ok(review(req("Pod", { metadata: {}, spec: {} }), nsAnn, cfg).response.patch);
});

test("NS URL check and SR-IOV limits on the init container", () => {
  assert.equal(annotationProblem("kernel://a/nsm-1,kernel://b@dom/nsm-2?x=y"), undefined);
  assert.match(annotationProblem("kernel://a/nsm-1,just-a-name")!, /"just-a-name"/);
  const r = review(
    req("Pod", {
      metadata: { annotations: { "networkservicemesh.io": "vfio://l2?sriovToken=l2.domain/1G" } },
      spec: {},
    }),
    undefined,
    cfg,
  );
  const init = op(r.ops, "/spec/initContainers")[0] as { resources: { limits: Record<string, string> } };
  assert.deepEqual(init.resources.limits, { "l2.domain/1G": "1", cpu: "200m", memory: "80Mi" });
});
