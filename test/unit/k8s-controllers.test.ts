/**
 * The Kubernetes controllers against a real kube-apiserver (one for the file): cluster-info,
 * exclude-prefixes and the map-ip Node source. Each reacts to create/update/delete through
 * its watch (the time it took is printed), and a restarted controller picks up what changed
 * while it was down.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi, loadYaml, type V1Node } from "../../src/k8s/client.js";
import { clusterPropertyCrd, startClusterInfo } from "../../src/k8s/cluster-info.js";
import { readConfig as readExcludeConfig } from "../../src/cmd/exclude-prefixes.js";
import { startExcludePrefixes } from "../../src/k8s/exclude-prefixes.js";
import { ensureCrds } from "../../src/k8s/kube.js";
import { watchConfigMapIpMap, watchNodeIpMap } from "../../src/k8s/mapip-nodes.js";
import { apiServerSkip, startApiServer, type ApiServer } from "../helpers/kube-apiserver.js";

const skip = apiServerSkip();
if (skip) console.log(`# skipping k8s controller tests: ${skip}`);
let api: ApiServer | undefined;
let core: CoreV1Api, custom: CustomObjectsApi;
const tag = `${process.pid}`;

before(async () => {
  if (skip) return;
  api = await startApiServer();
  core = api.kc.makeApiClient(CoreV1Api);
  custom = api.kc.makeApiClient(CustomObjectsApi);
});
after(async () => {
  await api?.stop();
});

/** Polls `get` until `ok`; returns the ms it took (fails after `ms`). */
async function until<T>(what: string, get: () => T | Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<number> {
  const t0 = Date.now();
  let v: T | undefined;
  while (Date.now() - t0 < ms) {
    v = await get();
    if (ok(v)) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`${what}: not after ${ms} ms; last ${JSON.stringify(v)}`);
}

test(
  "cluster-info: ClusterProperty → ConfigMap clusterName, other keys kept, picked up after a restart",
  { skip, timeout: 60_000 },
  async () => {
    const namespace = "default";
    await ensureCrds(api!.kc, [clusterPropertyCrd()]);
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: "cluster-info" }, data: { "config.yaml": "foo: bar\n", other: "keep" } },
    });
    const cfg = {
      configMapName: "cluster-info",
      namespace,
      translation: { "id.k8s.io": "clusterName" },
      fileName: "config.yaml",
    };
    const yaml = async () =>
      loadYaml<Record<string, string>>(
        (await core.readNamespacedConfigMap({ namespace, name: "cluster-info" })).data!["config.yaml"]!,
      );
    const prop = (name: string, value: string) => ({
      apiVersion: "about.k8s.io/v1alpha1",
      kind: "ClusterProperty",
      metadata: { name },
      spec: { value },
    });
    const g = { group: "about.k8s.io", version: "v1alpha1", plural: "clusterproperties" };
    const ac1 = new AbortController();
    await startClusterInfo(api!.kc, cfg, ac1.signal);
    await custom.createClusterCustomObject({ ...g, body: prop("id.k8s.io", "cluster1") });
    const ms = await until("clusterName: cluster1", yaml, (y) => y.clusterName === "cluster1");
    console.log(`# cluster-info reacted in ${ms} ms`);
    assert.deepEqual(await yaml(), { foo: "bar", clusterName: "cluster1" });
    const cm = await core.readNamespacedConfigMap({ namespace, name: "cluster-info" });
    assert.equal(cm.data!.other, "keep");
    // our own write comes back through the ConfigMap watch and must not cause another
    await new Promise((r) => setTimeout(r, 300));
    const again = await core.readNamespacedConfigMap({ namespace, name: "cluster-info" });
    assert.equal(again.metadata!.resourceVersion, cm.metadata!.resourceVersion, "no update without a change");
    ac1.abort(); // stopped; changes meanwhile are found by the next start
    const cur = (await custom.getClusterCustomObject({ ...g, name: "id.k8s.io" })) as { spec: { value: string } };
    cur.spec.value = "cluster2";
    await custom.replaceClusterCustomObject({ ...g, name: "id.k8s.io", body: cur });
    await custom.createClusterCustomObject({ ...g, body: prop("zone.example.com", "z1") });
    const ac2 = new AbortController();
    try {
      await startClusterInfo(api!.kc, cfg, ac2.signal);
      await until("after restart", yaml, (y) => y.clusterName === "cluster2" && y["zone.example.com"] === "z1");
    } finally {
      ac2.abort();
    }
  },
);

test(
  "exclude-prefixes: static, kubeadm, nodes, services and user lists merged to a 0600 file; follows changes",
  { skip, timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), `nsm-ep-${tag}-`));
    const path = join(dir, "config", "excluded_prefixes.yaml");
    const ac = new AbortController();
    try {
      await core.createNamespacedConfigMap({
        namespace: "kube-system",
        body: {
          metadata: { name: "kubeadm-config" },
          data: { ClusterConfiguration: "networking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/12\n" },
        },
      });
      await core.createNamespacedConfigMap({
        namespace: "default",
        body: {
          metadata: { name: "excluded-prefixes-config" },
          data: { "excluded_prefixes_input.yaml": "prefixes:\n- 168.0.0.0/10\n- bad\n" },
        },
      });
      const read = () => {
        try {
          return loadYaml<{ Prefixes: string[] }>(readFileSync(path, "utf8")).Prefixes;
        } catch {
          return [];
        }
      };
      await startExcludePrefixes(
        api!.kc,
        {
          static: ["127.0.0.1/16", "10.0.0.0/25", "10.0.0.128/25"],
          userConfigMap: {
            namespace: "default",
            name: "excluded-prefixes-config",
            key: "excluded_prefixes_input.yaml",
          },
          output: { kind: "file", path },
        },
        ac.signal,
      );
      const first = read();
      for (const p of ["127.0.0.0/16", "10.0.0.0/24", "10.244.0.0/16", "10.96.0.0/12", "168.0.0.0/10"])
        assert.ok(first.includes(p), `${p} in ${first.join(" ")}`);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      await core.createNode({ body: { metadata: { name: `ep-node-${tag}` }, spec: { podCIDR: "10.250.1.0/24" } } });
      let ms = await until("node podCIDR", read, (l) => l.includes("10.250.1.0/24"));
      console.log(`# exclude-prefixes reacted to a node in ${ms} ms`);
      await core.createNamespacedService({
        namespace: "default",
        body: { metadata: { name: "ep-svc" }, spec: { clusterIP: "198.19.7.7", ports: [{ port: 80 }] } },
      });
      ms = await until("service clusterIP", read, (l) => l.includes("198.19.7.7/32"));
      console.log(`# exclude-prefixes reacted to a service in ${ms} ms`);
      await core.deleteNamespacedService({ namespace: "default", name: "ep-svc" });
      await until("service deleted", read, (l) => !l.includes("198.19.7.7/32"));
      await core.deleteNode({ name: `ep-node-${tag}` });
      await until("node deleted", read, (l) => !l.includes("10.250.1.0/24"));
    } finally {
      ac.abort();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "map-ip: Nodes → internal→external map; own node adds the pod address; deletions remove entries",
  { skip, timeout: 60_000 },
  async () => {
    const ac = new AbortController();
    const maps: Map<string, string>[] = [];
    const node = (name: string, addrs: [string, string][]): V1Node => ({
      metadata: { name },
      status: { addresses: addrs.map(([type, address]) => ({ type, address })) },
    });
    const last = () => Object.fromEntries(maps[maps.length - 1] ?? []);
    try {
      await core.createNode({ body: node(`mi-a-${tag}`, [["InternalIP", "10.0.0.2"]]) });
      await watchNodeIpMap(api!.kc, (m) => maps.push(m), ac.signal, { nodeName: `mi-b-${tag}`, podIp: "10.9.9.9" });
      assert.equal(last()["10.0.0.2"], "10.0.0.2");
      await core.createNode({
        body: node(`mi-b-${tag}`, [
          ["InternalIP", "10.0.0.3"],
          ["ExternalIP", "1.2.3.4"],
        ]),
      });
      const ms = await until("external node", last, (m) => m["10.0.0.3"] === "1.2.3.4" && m["1.2.3.4"] === "1.2.3.4");
      console.log(`# map-ip reacted in ${ms} ms`);
      assert.equal(last()["10.9.9.9"], "1.2.3.4", "own node's event maps the pod address");
      await core.deleteNode({ name: `mi-a-${tag}` });
      await until("deleted node", last, (m) => !("10.0.0.2" in m));
      // the optional ConfigMap source: every value a YAML from: to map
      const cmMaps: Map<string, string>[] = [];
      await watchConfigMapIpMap(api!.kc, "default", "map-ip", (m) => cmMaps.push(m), ac.signal);
      assert.equal(cmMaps.at(-1)!.size, 0);
      await core.createNamespacedConfigMap({
        namespace: "default",
        body: { metadata: { name: "map-ip" }, data: { a: "10.1.1.1: 5.6.7.8\n", b: "not: [a map" } },
      });
      await until(
        "ConfigMap source",
        () => Object.fromEntries(cmMaps.at(-1)!),
        (m) => m["10.1.1.1"] === "5.6.7.8",
      );
    } finally {
      ac.abort();
    }
  },
);

test(
  "exclude-prefixes to a ConfigMap: written, and put back when someone else edits it; bad config refused",
  { skip, timeout: 60_000 },
  async () => {
    const namespace = "default";
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: "nsm-config" }, data: { keep: "x" } },
    });
    const ac = new AbortController();
    const key = "excluded_prefixes_output.yaml";
    const read = async () => (await core.readNamespacedConfigMap({ namespace, name: "nsm-config" })).data ?? {};
    try {
      await startExcludePrefixes(
        api!.kc,
        {
          static: ["192.0.2.0/24"],
          userConfigMap: { namespace, name: "none", key: "x" },
          output: { kind: "config-map", namespace, name: "nsm-config", key },
        },
        ac.signal,
      );
      assert.ok(loadYaml<{ Prefixes: string[] }>((await read())[key]!).Prefixes.includes("192.0.2.0/24"));
      const cm = await core.readNamespacedConfigMap({ namespace, name: "nsm-config" });
      cm.data![key] = "Prefixes: []\n";
      await core.replaceNamespacedConfigMap({ namespace, name: "nsm-config", body: cm });
      await until("restored", read, (d) => (d[key] ?? "").includes("192.0.2.0/24"));
      assert.equal((await read()).keep, "x");
    } finally {
      ac.abort();
    }
    assert.throws(() => readExcludeConfig({ NSM_PREFIXES_OUTPUT_TYPE: "foo" }), /NSM_PREFIXES_OUTPUT_TYPE.*foo/);
    assert.throws(() => readExcludeConfig({ NSM_EXCLUDED_PREFIXES: "10.0.0.0/8,nope" }), /NSM_EXCLUDED_PREFIXES.*nope/);
  },
);
