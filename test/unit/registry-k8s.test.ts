/**
 * The `k8s` registry store against a real kube-apiserver (one per file, see
 * test/helpers/kube-apiserver.ts): the custom resources carry upstream's group, kinds and
 * snake_case spec; hand-written NetworkServices are found; two registry replicas on one API
 * server serve one mesh and delete an expired entry once; a watch from a compacted-away
 * version ends with `reset` (410 Gone) so the replica re-lists; the watch resumes across
 * server-side timeouts without losing or repeating an event.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api, CustomObjectsApi } from "../../src/k8s/client.js";
import { resumableWatch } from "../../src/k8s/watch.js";
import { create, NetworkServiceEndpointSchema, NetworkServiceSchema, timestampFromMs } from "../../src/api/index.js";
import { newCtx } from "../../src/core/index.js";
import { createRegistry } from "../../src/registry/chains/registry.js";
import { NS, NSE, nseQuery, nsQuery, readList } from "../../src/registry/tools.js";
import { crStore } from "../../src/k8s/cr-store.js";
import { NSE_KIND, nseFromSpec, nseToSpec } from "../../src/k8s/registry-crd.js";
import { apiServerSkip, startApiServer, type ApiServer } from "../helpers/kube-apiserver.js";
import { nseEvent, watchLog } from "../helpers/watchlog.js";

const skip = apiServerSkip();
if (skip) console.log(`# skipping registry-k8s tests: ${skip}`);
let api: ApiServer | undefined;
let seq = 0;
const core = () => api!.kc.makeApiClient(CoreV1Api);
const nsName = () => `rk-${process.pid}-${seq++}`;
const ctx = (ms = 5000) => newCtx({ timeoutMs: ms });
const nse = (name: string, expMs?: number) =>
  create(NetworkServiceEndpointSchema, {
    name,
    url: "tcp://127.0.0.1:7001",
    networkServiceNames: ["icmp"],
    networkServiceLabels: { icmp: { labels: { app: "a" } } },
    expirationTime: expMs === undefined ? undefined : timestampFromMs(expMs),
  });

before(async () => {
  if (!skip) api = await startApiServer();
});
after(async () => {
  await api?.stop();
});

test(
  "CRs have upstream's group, kinds and snake_case spec; hand-written NetworkServices are found",
  { skip, timeout: 60_000 },
  async () => {
    const ns = nsName();
    const ac = new AbortController();
    try {
      const r = await createRegistry({ store: `k8s:${ns}`, kubeconfig: api!.kubeconfig, signal: ac.signal });
      await r.ready;
      const reg = await r.nse.register(nse("nse-1"), ctx());
      const co = api!.kc.makeApiClient(CustomObjectsApi);
      const base = { group: "networkservicemesh.io", version: "v1", namespace: ns };
      const cr = (await co.getNamespacedCustomObject({
        ...base,
        plural: "networkserviceendpoints",
        name: "nse-1",
      })) as {
        kind: string;
        spec: Record<string, unknown>;
      };
      assert.equal(cr.kind, "NetworkServiceEndpoint");
      assert.equal(cr.spec.name, "nse-1");
      assert.deepEqual(cr.spec.network_service_names, ["icmp"]);
      assert.deepEqual(cr.spec.network_service_labels, { icmp: { labels: { app: "a" } } });
      assert.equal(cr.spec.url, "tcp://127.0.0.1:7001");
      const exp = cr.spec.expiration_time as { seconds: number; nanos?: number };
      assert.equal(exp.seconds, Number(reg.expirationTime!.seconds));
      assert.ok(cr.spec.initial_registration_time);
      // a second Register is an update, keeping initial_registration_time
      const again = await r.nse.register(reg, ctx());
      assert.deepEqual(again.initialRegistrationTime, reg.initialRegistrationTime);
      // written by hand, as users do: no spec.name, only a payload
      await co.createNamespacedCustomObject({
        ...base,
        plural: "networkservices",
        body: {
          apiVersion: "networkservicemesh.io/v1",
          kind: "NetworkService",
          metadata: { name: "by-hand" },
          spec: { payload: "ETHERNET" },
        },
      });
      const w = watchLog(r.ns.find(nsQuery({}, true), newCtx({ signal: ac.signal })), (x) => x.networkService!.name);
      await w.until((g) => g.includes("by-hand"));
      const found = await readList(r.ns.find(nsQuery({ name: "by-hand" }), ctx()), NS.itemOf);
      assert.equal(found[0]?.payload, "ETHERNET");
      await r.ns.register(create(NetworkServiceSchema, { name: "icmp", payload: "IP" }), ctx());
      const back = await readList(r.nse.find(nseQuery({ name: "nse-1" }), ctx()), NSE.itemOf);
      assert.deepEqual(back[0]?.networkServiceLabels.icmp?.labels, { app: "a" });
      await r.close();
    } finally {
      ac.abort();
    }
  },
);

test(
  "two registry replicas on one API server serve one mesh; an expiry is deleted once",
  { skip, timeout: 60_000 },
  async () => {
    const store = `k8s:${nsName()}`;
    const ac = new AbortController(),
      wac = new AbortController();
    try {
      const a = await createRegistry({ store, kubeconfig: api!.kubeconfig, signal: ac.signal, expirePeriodMs: 800 });
      const b = await createRegistry({ store, kubeconfig: api!.kubeconfig, signal: ac.signal, expirePeriodMs: 800 });
      await Promise.all([a.ready, b.ready]);
      const wa = watchLog(a.nse.find(nseQuery({}, true), newCtx({ signal: wac.signal })), nseEvent);
      const wb = watchLog(b.nse.find(nseQuery({}, true), newCtx({ signal: wac.signal })), nseEvent);
      await a.nse.register(nse("x"), ctx());
      await wb.until((g) => g.includes("x+"));
      await b.nse.unregister(nse("x"), ctx());
      await wa.until((g) => g.includes("x-"));
      await b.nse.register(nse("y"), ctx()); // both replicas have a timer for y
      await wa.until((g) => g.includes("y-"));
      await wb.until((g) => g.includes("y-"));
      await b.nse.register(nse("z"), ctx()); // a second deletion of y would come before z
      await wa.until((g) => g.includes("z+"));
      await wb.until((g) => g.includes("z+"));
      assert.deepEqual(wa.got.slice(0, 5), ["x+", "x-", "y+", "y-", "z+"]);
      assert.deepEqual(wb.got.slice(0, 5), ["x+", "x-", "y+", "y-", "z+"]);
      await a.close();
      await b.close();
    } finally {
      wac.abort();
      ac.abort();
    }
  },
);

test(
  "a watch from a version the API server no longer has ends with reset (410 Gone)",
  { skip, timeout: 30_000 },
  async () => {
    const s = crStore({
      kubeConfig: api!.kc,
      namespace: "default",
      crKind: NSE_KIND,
      toSpec: nseToSpec,
      fromSpec: nseFromSpec,
    });
    try {
      await s.put("gone-1", nse("gone-1"));
      const reset = await new Promise<boolean>((resolve) => {
        s.watch(1, { event: () => {}, reset: () => resolve(true), error: () => {} });
        setTimeout(() => resolve(false), 10_000).unref();
      });
      assert.ok(reset, "watch from resourceVersion 1 was reset");
    } finally {
      await s.close();
    }
  },
);

test(
  "the watch resumes across server-side timeouts with nothing lost or repeated",
  { skip, timeout: 30_000 },
  async () => {
    const namespace = nsName();
    await core().createNamespace({ body: { metadata: { name: namespace } } });
    const list = await core().listNamespacedConfigMap({ namespace });
    const seen: string[] = [];
    const stop = resumableWatch(
      api!.kc,
      `/api/v1/namespaces/${namespace}/configmaps`,
      list.metadata!.resourceVersion!,
      { event: (type, obj) => seen.push(`${type[0]}:${obj.metadata!.name}`), gone: () => assert.fail("gone") },
      { timeoutSeconds: 1 }, // the server ends each watch after 1 s: several resumes below
    );
    try {
      const want: string[] = [];
      for (let i = 0; i < 12; i++) {
        await core().createNamespacedConfigMap({ namespace, body: { metadata: { name: `cm-${i}` } } });
        want.push(`A:cm-${i}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      const deadline = Date.now() + 10_000;
      while (seen.length < want.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(seen, want);
    } finally {
      stop();
    }
  },
);

test(
  "delete answers with the deletion's revision (from the watch), so Unregister is read-your-writes",
  { skip, timeout: 30_000 },
  async () => {
    const namespace = nsName();
    const s = crStore({ kubeConfig: api!.kc, namespace, crKind: NSE_KIND, toSpec: nseToSpec, fromSpec: nseFromSpec });
    const ac = new AbortController();
    try {
      await core().createNamespace({ body: { metadata: { name: namespace } } });
      const revs: number[] = [];
      const stop = s.watch((await s.list()).revision, {
        event: (e) => e.type === "delete" && revs.push(e.revision),
        reset: () => {},
      });
      const put = await s.put("d-1", nse("d-1"));
      const del = await s.delete("d-1");
      assert.ok(del! > put, `deletion ${del} after the write ${put}`);
      assert.deepEqual(revs, [del]);
      stop();
      const r = await createRegistry({ store: `k8s:${namespace}`, kubeconfig: api!.kubeconfig, signal: ac.signal });
      await r.ready;
      for (let i = 0; i < 10; i++) {
        const e = await r.nse.register(nse(`u-${i}`), ctx());
        await r.nse.unregister(e, ctx());
        assert.deepEqual(await readList(r.nse.find(nseQuery({ name: `u-${i}` }), ctx()), NSE.itemOf), []);
      }
      await r.close();
    } finally {
      ac.abort();
      await s.close();
    }
  },
);
