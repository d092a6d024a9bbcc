/**
 * deploy/ against a real kube-apiserver (one for the file): deploy/basic is built the way
 * kustomize builds it (resources, namespace, images: all this tree uses) and every object is
 * sent with a server-side dry run (namespaces are created for real, so namespaced objects can
 * be checked). Also: the CRD files are what the code installs, and every NSM_* variable a
 * container sets is one its `nsm` command reads (its ENV_HELP).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { dumpYaml, KubernetesObjectApi, loadAllYaml, loadYaml, type KubernetesObject } from "../../src/k8s/client.js";
import { clusterPropertyCrd } from "../../src/k8s/cluster-info.js";
import { NS_KIND, NSE_KIND, registryCrd } from "../../src/k8s/registry-crd.js";
import { apiServerSkip, startApiServer, type ApiServer } from "../helpers/kube-apiserver.js";

const root = resolve(new URL("../..", import.meta.url).pathname);
const skip = apiServerSkip();
if (skip) console.log(`# skipping deploy dry-run test: ${skip}`);
let api: ApiServer | undefined;

before(async () => {
  if (!skip) api = await startApiServer();
});
after(async () => {
  await api?.stop();
});

const CLUSTER_SCOPED = new Set([
  "Namespace",
  "ClusterRole",
  "ClusterRoleBinding",
  "CustomResourceDefinition",
  "MutatingWebhookConfiguration",
]);
type Kustomization = {
  resources?: string[];
  namespace?: string;
  images?: { name: string; newName?: string; newTag?: string }[];
};

/** The subset of `kustomize build` this tree uses: resources (files, dirs), namespace, images. */
function build(dir: string): KubernetesObject[] {
  const k = loadYaml<Kustomization>(readFileSync(join(dir, "kustomization.yaml"), "utf8"));
  const out: KubernetesObject[] = [];
  for (const r of k.resources ?? []) {
    const p = join(dir, r);
    if (statSync(p).isDirectory()) out.push(...build(p));
    else out.push(...(loadAllYaml(readFileSync(p, "utf8")) as KubernetesObject[]).filter(Boolean));
  }
  for (const o of out) {
    if (k.namespace && !CLUSTER_SCOPED.has(o.kind!)) o.metadata!.namespace = k.namespace;
    const spec = (o as { spec?: { template?: { spec?: { containers?: { image: string }[] } } } }).spec;
    for (const c of spec?.template?.spec?.containers ?? [])
      for (const im of k.images ?? [])
        if (c.image.split(":")[0] === im.name) c.image = `${im.newName ?? im.name}:${im.newTag ?? "latest"}`;
  }
  return out;
}

test("deploy/ CRDs are the ones the code installs", () => {
  const file = (p: string) => readFileSync(join(root, "deploy/apps", p), "utf8").replace(/^#.*\n/gm, "");
  assert.equal(file("registry-k8s/crd-ns.yaml"), dumpYaml(registryCrd(NS_KIND)));
  assert.equal(file("registry-k8s/crd-nse.yaml"), dumpYaml(registryCrd(NSE_KIND)));
  assert.equal(file("cluster-info-k8s/crd-clusterproperty.yaml"), dumpYaml(clusterPropertyCrd()));
});

test("every NSM_* variable a container sets is read by its nsm command", async () => {
  for (const o of build(join(root, "deploy/basic"))) {
    const spec = (
      o as { spec?: { template?: { spec?: { containers?: { args?: string[]; env?: { name: string }[] }[] } } } }
    ).spec;
    for (const c of spec?.template?.spec?.containers ?? []) {
      const cmd = c.args?.[0];
      assert.ok(cmd && existsSync(join(root, "src/cmd", `${cmd}.ts`)), `${o.metadata!.name}: nsm ${cmd} exists`);
      const { ENV_HELP } = (await import(`../../src/cmd/${cmd}.ts`)) as { ENV_HELP: string };
      for (const e of c.env ?? [])
        if (e.name.startsWith("NSM_"))
          assert.ok(ENV_HELP.includes(e.name), `${o.metadata!.name}: nsm ${cmd} reads ${e.name}`);
    }
  }
});

test("deploy/basic passes a server-side dry run of every object", { skip, timeout: 60_000 }, async () => {
  const objs = build(join(root, "deploy/basic"));
  assert.ok(objs.length >= 15, `${objs.length} objects`);
  const client = KubernetesObjectApi.makeApiClient(api!.kc);
  const failures: string[] = [];
  for (const o of objs) {
    try {
      if (o.kind === "Namespace") await client.create(o);
      else await client.create(o, undefined, "All");
    } catch (err) {
      const body = (err as { body?: string }).body ?? String(err);
      failures.push(`${o.kind}/${o.metadata!.name}: ${body.slice(0, 300)}`);
    }
  }
  assert.deepEqual(failures, []);
});
