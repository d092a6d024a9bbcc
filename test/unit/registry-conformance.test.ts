/**
 * One conformance suite for the registry server, run against every store backend: memory
 * always, etcd when /usr/bin/etcd exists (a throwaway etcd per suite, loopback only), k8s when
 * the test API server is installed (one throwaway kube-apiserver for the suite; every test in
 * its own namespace).
 * Calls go over real gRPC (tcp loopback) so the wire path is covered too.
 */
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import {
  create,
  MatchSchema,
  NetworkServiceEndpointSchema,
  NetworkServiceSchema,
  timestampFromMs,
  timestampMs,
  type MessageInitShape,
  type NetworkServiceEndpoint,
  type NetworkServiceEndpointResponse,
} from "../../src/api/index.js";
import { dial, newCtx, NsmError, serve, status, type GrpcConn, type GrpcServer } from "../../src/core/index.js";
import { createRegistry, type Registry } from "../../src/registry/chains/registry.js";
import { NSE, NS, nseQuery, nsQuery, readList } from "../../src/registry/tools.js";
import { startEtcd, type EtcdProcess } from "../helpers/etcd.js";
import { apiServerSkip, startApiServer, type ApiServer } from "../helpers/kube-apiserver.js";
import { watchLog } from "../helpers/watchlog.js";
import { mockClock } from "../../src/core/testing/clock.js";

const ctx = (ms = 5000) => newCtx({ timeoutMs: ms });
let seq = 0;
type NseInit = MessageInitShape<typeof NetworkServiceEndpointSchema>;
const nse = (name: string, o: NseInit = {}) =>
  create(NetworkServiceEndpointSchema, {
    name,
    url: `tcp://127.0.0.1:${5000 + (seq++ % 1000)}`,
    networkServiceNames: ["icmp"],
    ...o,
  });

/** A watch stream as an array, waited on event by event. */
const watcher = (it: AsyncIterable<NetworkServiceEndpointResponse>) =>
  watchLog(it, (r) => ({
    name: r.networkServiceEndpoint!.name,
    deleted: r.deleted,
    url: r.networkServiceEndpoint!.url,
  }));

type Backend = {
  name: string;
  skip?: string | false;
  store(): string;
  kubeconfig?(): string;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
};
let etcd: EtcdProcess | undefined;
let apiserver: ApiServer | undefined;
const backends: Backend[] = [
  { name: "memory", store: () => "memory" },
  {
    name: "etcd",
    skip: !existsSync("/usr/bin/etcd") && "etcd not installed",
    store: () => `etcd://${etcd!.hostPort}/t${process.pid}-${seq++}`,
    async setup() {
      etcd = await startEtcd();
    },
    async teardown() {
      await etcd?.stop();
      etcd = undefined;
    },
  },
  {
    name: "k8s",
    skip: apiServerSkip(),
    store: () => `k8s:t${process.pid}-${seq++}`,
    kubeconfig: () => apiserver!.kubeconfig,
    async setup() {
      apiserver = await startApiServer();
    },
    async teardown() {
      await apiserver?.stop();
      apiserver = undefined;
    },
  },
];

for (const b of backends) {
  describe(`registry conformance (${b.name})`, { skip: b.skip, timeout: 120_000 }, () => {
    let reg: Registry, srv: GrpcServer, conn: GrpcConn, ac: AbortController;
    const open = async (expirePeriodMs = 60_000) => {
      ac = new AbortController();
      reg = await createRegistry({ store: b.store(), kubeconfig: b.kubeconfig?.(), expirePeriodMs, signal: ac.signal });
      await reg.ready;
      srv = await serve(["tcp://127.0.0.1:0"], { nseRegistry: reg.nse, nsRegistry: reg.ns });
      conn = dial(srv.urls[0]!);
    };
    const shut = async () => {
      conn?.close();
      await srv?.close();
      await reg?.close();
      ac?.abort();
    };
    before(async () => {
      await b.setup?.();
    });
    after(async () => {
      await b.teardown?.();
    });

    test("Register returns the entry with expiration_time and initial_registration_time; refresh keeps the first time", async () => {
      await open(60_000);
      try {
        const t0 = Date.now();
        const r1 = await conn.nseRegistry.register(nse("nse-a"), ctx());
        assert.ok(r1.expirationTime, "expiration_time set");
        const exp = timestampMs(r1.expirationTime);
        assert.ok(exp >= t0 + 59_000 && exp <= Date.now() + 60_000, `expiration ${exp - t0} ms after register`);
        assert.ok(r1.initialRegistrationTime);
        const r2 = await conn.nseRegistry.register(r1, ctx());
        assert.deepEqual(r2.initialRegistrationTime, r1.initialRegistrationTime);
        assert.ok(timestampMs(r2.expirationTime!) >= exp);
        // an earlier expiration sent by the caller is kept
        const soon = Date.now() + 30_000;
        const r3 = await conn.nseRegistry.register(nse("nse-b", { expirationTime: timestampFromMs(soon) }), ctx());
        assert.equal(timestampMs(r3.expirationTime!), soon);
      } finally {
        await shut();
      }
    });

    test("Find matches by name, service names, labels and URL substring", async () => {
      await open();
      try {
        await conn.nseRegistry.register(
          nse("f-1", {
            url: "tcp://10.0.0.1:5001",
            networkServiceNames: ["icmp", "vl3"],
            networkServiceLabels: { icmp: { labels: { app: "a", zone: "z1" } } },
          }),
          ctx(),
        );
        await conn.nseRegistry.register(
          nse("f-2", {
            url: "tcp://10.0.0.2:5001",
            networkServiceNames: ["icmp"],
            networkServiceLabels: { icmp: { labels: { app: "b" } } },
          }),
          ctx(),
        );
        await conn.nseRegistry.register(
          nse("f-3", { url: "unix:///var/run/f3.sock", networkServiceNames: ["forwarder"] }),
          ctx(),
        );
        const names = async (q: NseInit) =>
          (await readList(conn.nseRegistry.find(nseQuery(q), ctx()), NSE.itemOf)).map((e) => e.name).sort();
        assert.deepEqual(await names({}), ["f-1", "f-2", "f-3"]);
        assert.deepEqual(await names({ name: "f-2" }), ["f-2"]);
        assert.deepEqual(await names({ name: "f" }), [], "name is exact");
        assert.deepEqual(await names({ networkServiceNames: ["icmp"] }), ["f-1", "f-2"]);
        assert.deepEqual(await names({ networkServiceNames: ["icmp", "vl3"] }), ["f-1"]);
        assert.deepEqual(await names({ networkServiceLabels: { icmp: { labels: { app: "a" } } } }), ["f-1"]);
        assert.deepEqual(await names({ url: "10.0.0.2" }), ["f-2"]);
        assert.deepEqual(await names({ url: "unix://" }), ["f-3"]);
      } finally {
        await shut();
      }
    });

    test("NetworkService: payload defaults to IP, matches are stored and returned untouched, Find by name/payload", async () => {
      await open();
      try {
        const matches = [
          create(MatchSchema, {
            sourceSelector: { app: "{{.podName}}" },
            fallthrough: true,
            routes: [{ destinationSelector: { zone: "z1" }, weight: 7 }],
            metadata: { labels: { x: "y" } },
          }),
          create(MatchSchema, { routes: [{ destinationSelector: {} }] }),
        ];
        const ns = create(NetworkServiceSchema, { name: "icmp", matches });
        const r = await conn.nsRegistry.register(ns, ctx());
        assert.equal(r.payload, "IP");
        await conn.nsRegistry.register(create(NetworkServiceSchema, { name: "eth", payload: "ETHERNET" }), ctx());
        const all = await readList(conn.nsRegistry.find(nsQuery({ name: "icmp" }), ctx()), NS.itemOf);
        assert.equal(all.length, 1);
        assert.deepEqual(all[0]!.matches, r.matches);
        assert.equal(all[0]!.matches[0]!.routes[0]!.weight, 7);
        assert.deepEqual(
          (await readList(conn.nsRegistry.find(nsQuery({ payload: "ETHERNET" }), ctx()), NS.itemOf)).map((n) => n.name),
          ["eth"],
        );
        assert.deepEqual(
          (await readList(conn.nsRegistry.find(nsQuery({ matches }), ctx()), NS.itemOf)).map((n) => n.name),
          ["icmp"],
        );
        await conn.nsRegistry.unregister(r, ctx());
        assert.deepEqual(
          (await readList(conn.nsRegistry.find(nsQuery({}), ctx()), NS.itemOf)).map((n) => n.name),
          ["eth"],
        );
      } finally {
        await shut();
      }
    });

    test("watch streams current matches, then registrations, refreshes and deletions until cancelled", async () => {
      await open();
      const wac = new AbortController();
      try {
        await conn.nseRegistry.register(nse("w-1"), ctx());
        await conn.nseRegistry.register(nse("w-other", { networkServiceNames: ["other"] }), ctx());
        const w = watcher(
          conn.nseRegistry.find(nseQuery({ networkServiceNames: ["icmp"] }, true), newCtx({ signal: wac.signal })),
        );
        await w.until((g) => g.length >= 1);
        const r2 = await conn.nseRegistry.register(nse("w-2"), ctx());
        await conn.nseRegistry.register(r2, ctx()); // refresh → another update
        await conn.nseRegistry.unregister(r2, ctx());
        await w.until((g) => g.length >= 4);
        assert.deepEqual(
          w.got.map((g) => `${g.name}${g.deleted ? "-" : "+"}`),
          ["w-1+", "w-2+", "w-2+", "w-2-"],
        );
        wac.abort();
        await w.done;
      } finally {
        wac.abort();
        await shut();
      }
    });

    test("an entry not refreshed expires and watchers see it deleted; a refreshed one stays", async (t) => {
      // mocked time moves only between refreshes, so no refresh can come late
      const clock = mockClock(t);
      await open(600);
      const wac = new AbortController();
      try {
        const w = watcher(conn.nseRegistry.find(nseQuery({}, true), newCtx({ signal: wac.signal })));
        const kept = await conn.nseRegistry.register(nse("x-kept"), ctx());
        kept.expirationTime = undefined; // a refresh asks for a fresh lifetime
        await conn.nseRegistry.register(nse("x-gone"), ctx());
        for (let i = 0; i < 8; i++) {
          await clock.advance(150); // two expire periods in all
          await conn.nseRegistry.register(kept, ctx());
        }
        await w.until((g) => g.some((e) => e.name === "x-gone" && e.deleted));
        const left = (await readList(conn.nseRegistry.find(nseQuery({}), ctx()), NSE.itemOf)).map((e) => e.name);
        assert.deepEqual(left, ["x-kept"]);
        assert.ok(!w.got.some((e) => e.name === "x-kept" && e.deleted), "refreshed entry was not deleted");
      } finally {
        wac.abort();
        await shut();
      }
    });

    test("bad input gets InvalidArgument naming the field and value, and nothing is stored", async () => {
      await open();
      try {
        const bad = async (e: NetworkServiceEndpoint, re: RegExp) => {
          await assert.rejects(conn.nseRegistry.register(e, ctx()), (err: NsmError) => {
            assert.equal(err.code, status.INVALID_ARGUMENT, err.message);
            assert.match(err.message, re);
            return true;
          });
        };
        await bad(nse(""), /name/);
        await bad(nse("bad-url", { url: "not a url" }), /url.*"not a url"/);
        await bad(nse("bad-tcp", { url: "tcp://host-without-port" }), /"tcp:\/\/host-without-port"/);
        await bad(nse("no-url", { url: "" }), /url must not be empty/);
        const past = Date.now() - 10_000;
        await bad(
          nse("past", { expirationTime: timestampFromMs(past) }),
          new RegExp(`expiration_time ${new Date(past).toISOString().slice(0, 16)}.*past`),
        );
        await assert.rejects(
          conn.nsRegistry.register(create(NetworkServiceSchema, { name: "" }), ctx()),
          (e: NsmError) => e.code === status.INVALID_ARGUMENT && /name/.test(e.message),
        );
        await assert.rejects(
          conn.nsRegistry.register(create(NetworkServiceSchema, { name: "p", payload: "FOO" }), ctx()),
          (e: NsmError) => e.code === status.INVALID_ARGUMENT && /"FOO"/.test(e.message),
        );
        assert.deepEqual(await readList(conn.nseRegistry.find(nseQuery({}), ctx()), NSE.itemOf), []);
        assert.deepEqual(await readList(conn.nsRegistry.find(nsQuery({}), ctx()), NS.itemOf), []);
      } finally {
        await shut();
      }
    });

    test("interdomain names without a proxy registry are rejected naming the name", async () => {
      await open();
      try {
        await assert.rejects(
          conn.nseRegistry.register(nse("nse-1@cluster2"), ctx()),
          (e: NsmError) =>
            e.code === status.INVALID_ARGUMENT &&
            /nse-1@cluster2/.test(e.message) &&
            /NSM_PROXY_REGISTRY_URL/.test(e.message),
        );
      } finally {
        await shut();
      }
    });
  });
}
