// Control-plane scenarios over a real in-process mesh (grpc-js on unix sockets, null datapath).
import { test } from "node:test";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import {
  ConnectionEventType,
  create,
  kernel,
  MonitorScopeSelectorSchema,
  NetworkServiceSchema,
  type Connection,
  type ConnectionEvent,
} from "../../src/api/index.js";
import { nsRegistryClient } from "../../src/registry/chains/client.js";
import { dial, newCtx, status, NsmError, type ClientElement } from "../../src/core/index.js";
import { checkClose, checkRequest, deferred } from "../../src/core/testing/index.js";
import { mockClock } from "../../src/core/testing/clock.js";
import { sandbox } from "../../src/sandbox/index.js";

test(
  "local connection: 4 segments nsc→nsmgr→forwarder→nse, tokens on every hop, addresses, netns passed as fds",
  { timeout: 15_000 },
  async (t) => {
    const sb = await sandbox();
    t.after(() => sb.close());
    const node = sb.node(0);
    await node.endpoint({ name: "nse-1", services: ["icmp"], cidrs: ["172.16.1.100/31"] });
    // any file stands in for the client's netns here (null datapath): it travels as an fd
    const dir = mkdtempSync(join(tmpdir(), "t-cp-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const nsFile = join(dir, "t-client");
    writeFileSync(nsFile, "");
    const id = (p: string) => {
      const st = statSync(p, { bigint: true });
      return `${st.dev}:${st.ino}`;
    };
    const nsc = await node.client({ netnsUrl: `file://${nsFile}` });
    const conn = await nsc.request("kernel://icmp/nsm-1?app=foo");
    assert.equal(conn.path!.pathSegments.length, 4);
    assert.match(conn.path!.pathSegments[0]!.name, /^nsc-/);
    assert.deepEqual(
      conn.path!.pathSegments.slice(1).map((s) => s.name),
      ["nsmgr-0", "forwarder-0-0", "nse-1"],
    );
    assert.equal(conn.path!.index, 0);
    assert.equal(conn.id, conn.path!.pathSegments[0]!.id);
    for (const s of conn.path!.pathSegments)
      assert.ok(s.token && s.expires, `segment ${s.name} has a token and an expiry`);
    assert.equal(conn.networkServiceEndpointName, "nse-1");
    assert.deepEqual(conn.context!.ipContext!.srcIpAddrs, ["172.16.1.101/32"]);
    assert.deepEqual(conn.context!.ipContext!.dstIpAddrs, ["172.16.1.100/32"]);
    assert.equal(conn.mechanism?.type, "KERNEL");
    assert.equal(kernel.netnsUrlOf(conn), `file://${nsFile}`, "the client gets its own URL back");
    assert.equal(kernel.ifnameOf(conn), "nsm-1");
    const x = [...node.backends[0]!.crossConnects.values()][0]!;
    const fdPath = /^file:\/\/(\/proc\/\d+\/fd\/\d+)$/;
    const inc = fdPath.exec(kernel.netnsUrlOf(x.incoming) ?? "");
    assert.ok(inc, `the forwarder got the client's netns as a received fd: ${kernel.netnsUrlOf(x.incoming)}`);
    assert.equal(id(inc[1]!), id(nsFile), "the fd is the client's file");
    assert.equal(x.outgoing.mechanism?.type, "KERNEL");
    const out = fdPath.exec(kernel.netnsUrlOf(x.outgoing) ?? "");
    assert.ok(out, `the NSE's netns came as an fd: ${kernel.netnsUrlOf(x.outgoing)}`);
    assert.equal(id(out[1]!), id(`/proc/${process.pid}/ns/net`), "the NSE names its own netns");
    // a refresh keeps every segment id
    const again = await nsc.request("kernel://icmp/nsm-1?app=foo", { id: conn.id, connection: conn });
    assert.deepEqual(
      again.path!.pathSegments.map((s) => s.id),
      conn.path!.pathSegments.map((s) => s.id),
    );
  },
);

test(
  "unknown network service → NOT_FOUND naming it; no matching endpoint → message with labels",
  { timeout: 15_000 },
  async (t) => {
    const sb = await sandbox();
    t.after(() => sb.close());
    const nsc = await sb.node(0).client();
    await assert.rejects(nsc.request("kernel://no-such-service/nsm-1", { timeoutMs: 2000 }), (e: NsmError) => {
      assert.equal(e.code, status.NOT_FOUND);
      assert.match(e.message, /network service no-such-service is not found/);
      return true;
    });
  },
);

test(
  "label selection: the service's matches route app=a to red and app=b to blue; app=c gets a clear error",
  { timeout: 15_000 },
  async (t) => {
    const sb = await sandbox();
    t.after(() => sb.close());
    const node = sb.node(0);
    const ctl = new AbortController();
    t.after(() => ctl.abort());
    const ns = nsRegistryClient({ url: node.nsmgrUrl, signal: ctl.signal });
    t.after(() => ns.close());
    await ns.register(
      create(NetworkServiceSchema, {
        name: "svc",
        payload: "ETHERNET",
        matches: [
          { sourceSelector: { app: "a" }, routes: [{ destinationSelector: { color: "red" } }] },
          { sourceSelector: { app: "b" }, routes: [{ destinationSelector: { color: "blue" } }] },
        ],
      }),
      newCtx({ timeoutMs: 2000 }),
    );
    await node.endpoint({ name: "nse-red", services: ["svc"], labels: { color: "red" }, registerService: false });
    await node.endpoint({ name: "nse-blue", services: ["svc"], labels: { color: "blue" }, registerService: false });
    const nsc = await node.client();
    for (let i = 0; i < 3; i++) {
      assert.equal((await nsc.request("kernel://svc/nsm-1?app=a")).networkServiceEndpointName, "nse-red");
      assert.equal((await nsc.request("kernel://svc/nsm-1?app=b")).networkServiceEndpointName, "nse-blue");
    }
    await assert.rejects(nsc.request("kernel://svc/nsm-1?app=c", { timeoutMs: 2000 }), (e: NsmError) => {
      assert.equal(e.code, status.NOT_FOUND);
      assert.match(e.message, /no endpoint for network service svc \(registry had 0 matches for labels \{app=c\}/);
      return true;
    });
  },
);

test("round robin spreads new connections over 3 NSEs", { timeout: 15_000 }, async (t) => {
  const sb = await sandbox();
  t.after(() => sb.close());
  const node = sb.node(0);
  for (const n of ["nse-1", "nse-2", "nse-3"]) await node.endpoint({ name: n, services: ["icmp"] });
  const nsc = await node.client();
  const used: string[] = [];
  for (let i = 0; i < 6; i++) used.push((await nsc.request("kernel://icmp/nsm-1")).networkServiceEndpointName);
  assert.deepEqual(
    new Set(used.slice(0, 3)),
    new Set(["nse-1", "nse-2", "nse-3"]),
    `first three went to ${used.slice(0, 3)}`,
  );
  assert.deepEqual(used.slice(3), used.slice(0, 3), "and the cycle repeats");
});

test("Close reaches the NSE and MonitorConnection emits DELETE", { timeout: 15_000 }, async (t) => {
  const sb = await sandbox();
  t.after(() => sb.close());
  const node = sb.node(0);
  const closed = deferred<string>();
  await node.endpoint({ name: "nse-1", services: ["icmp"], extra: [checkClose((c) => closed.resolve(c.id))] });
  const nsc = await node.client();
  const conn = await nsc.request("kernel://icmp/nsm-1");
  const mgr = dial(node.nsmgrUrl);
  t.after(() => mgr.close());
  const stop = new AbortController();
  t.after(() => stop.abort());
  const sel = create(MonitorScopeSelectorSchema, { pathSegments: [{ id: conn.id }] });
  const it = mgr.monitor.monitorConnections(sel, newCtx({ signal: stop.signal }))[Symbol.asyncIterator]();
  const first = (await it.next()).value as ConnectionEvent;
  assert.equal(first.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  assert.equal(Object.keys(first.connections).length, 1, "the nsmgr knows the connection");
  await nsc.close(conn);
  await closed.promise;
  for (;;) {
    const ev = (await it.next()).value as ConnectionEvent;
    if (ev.type === ConnectionEventType.DELETE) break;
  }
  assert.equal(node.backends[0]!.crossConnects.size, 0, "the forwarder removed its cross connect");
  assert.equal(node.nsmgr.endpoint.monitor.connections.size, 0);
});

test("NSE killed → the client heals to the other NSE", { timeout: 20_000 }, async (t) => {
  const sb = await sandbox();
  t.after(() => sb.close());
  const node = sb.node(0);
  const arrived = new Map<string, ReturnType<typeof deferred<string>>>([
    ["nse-1", deferred<string>()],
    ["nse-2", deferred<string>()],
  ]);
  const nses = new Map<string, Awaited<ReturnType<typeof node.endpoint>>>();
  for (const n of ["nse-1", "nse-2"]) {
    nses.set(
      n,
      await node.endpoint({
        name: n,
        services: ["icmp"],
        extra: [
          checkRequest((r) => {
            arrived.get(n)!.resolve(r.connection!.id);
          }),
        ],
      }),
    );
  }
  const healing = deferred<string>();
  const healed = deferred<Connection>();
  const nsc = await node.client({
    heal: { onHeal: (_id, why) => healing.resolve(why), onHealed: (_id, c) => healed.resolve(c) },
  });
  const conn = await nsc.request("kernel://icmp/nsm-1");
  const first = conn.networkServiceEndpointName;
  const other = first === "nse-1" ? "nse-2" : "nse-1";
  arrived.set(other, deferred<string>());
  const t0 = performance.now();
  await nses.get(first)!.kill();
  const why = await healing.promise;
  await arrived.get(other)!.promise;
  const now = await healed.promise;
  const ms = performance.now() - t0;
  t.diagnostic(`healed in ${ms.toFixed(0)} ms (${why})`);
  assert.equal(now.networkServiceEndpointName, other);
  // the nsmgr's view of our connection now ends at the other NSE
  const seen = [...node.nsmgr.endpoint.monitor.connections.values()];
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.networkServiceEndpointName, other);
  assert.equal(seen[0]!.path!.pathSegments[0]!.id, conn.id, "the client's segment id is kept");
});

test("nsmgr restarted → the connection is restored through the new nsmgr", { timeout: 20_000 }, async (t) => {
  const sb = await sandbox();
  t.after(() => sb.close());
  const node = sb.node(0);
  await node.endpoint({ name: "nse-1", services: ["icmp"] });
  const healed = deferred<Connection>();
  const nsc = await node.client({ heal: { onHealed: (_id, c) => healed.resolve(c) } });
  const conn = await nsc.request("kernel://icmp/nsm-1");
  const t0 = performance.now();
  await node.restartNsmgr();
  const back = await healed.promise;
  t.diagnostic(`restored ${(performance.now() - t0).toFixed(0)} ms after the restart began`);
  assert.equal(back.id, conn.id);
  assert.equal(back.networkServiceEndpointName, "nse-1");
  const seen = [...node.nsmgr.endpoint.monitor.connections.values()];
  assert.equal(seen.length, 1, "the new nsmgr holds the connection");
  assert.equal(seen[0]!.path!.pathSegments[0]!.id, conn.id);
});

test(
  "short tokens: refresh keeps a connection alive for 3 lifetimes; when refreshing stops the NSE closes it",
  { timeout: 30_000 },
  async (t) => {
    // Mocked time moves only between calls, so a slow machine cannot expire a token mid-refresh.
    // (Request budgets still run on real AbortSignal.timeout: 3 s is far above a local round trip.)
    const clock = mockClock(t);
    const lifetime = 10_000,
      budget = 3000;
    const sb = await sandbox({ maxTokenLifetimeMs: lifetime });
    t.after(() => sb.close());
    const node = sb.node(0);
    const requests: number[] = [];
    const closed = deferred<number>();
    await node.endpoint({
      name: "nse-1",
      services: ["icmp"],
      extra: [
        checkRequest(() => {
          requests.push(clock.now());
        }),
        checkClose(() => closed.resolve(clock.now())),
      ],
    });
    let early: number | undefined;
    void closed.promise.then((at) => (early = at));
    // calls of the client chain on their way (refreshes included): time stands still until they end
    let inFlight = 0;
    let idle = deferred();
    const track: ClientElement = {
      async request(req, ctx, next) {
        inFlight++;
        try {
          return await next.request(req, ctx);
        } finally {
          if (--inFlight === 0) idle.resolve();
        }
      },
    };
    const quiet = async () => {
      while (inFlight > 0) {
        await idle.promise;
        idle = deferred();
      }
    };
    const nsc = await node.client({ extra: [track] });
    // the request budget must be below the token lifetime, or servers close at expires − budget right away
    await nsc.request("kernel://icmp/nsm-1", { timeoutMs: budget });
    const t0 = clock.now();
    while (clock.now() - t0 < 3 * lifetime) {
      await clock.advance(100);
      await quiet();
    }
    assert.equal(early, undefined, "the connection stayed up for 3 token lifetimes");
    const gaps = requests.slice(1).map((at, i) => at - requests[i]!);
    assert.ok(requests.length >= 10, `${requests.length - 1} refreshes in 3 lifetimes, every 20–33 % of one expected`);
    assert.ok(Math.max(...gaps) < lifetime - budget, `refresh gaps ${gaps.join(", ")} ms: one came too late`);

    await nsc.kill();
    const last = requests.at(-1)!;
    // the nsmgr closes at the client's token expiry − the request's budget, and the Close reaches the NSE
    await clock.advance(last + lifetime - budget - 1 - clock.now(), { stepMs: 100 });
    await clock.advance(1);
    const at = await closed.promise;
    t.diagnostic(
      `${requests.length - 1} refreshes, gaps ${[...new Set(gaps)].join("/")} ms; closed ${at - last} ms after the last`,
    );
    assert.equal(at - last, lifetime - budget, `closed ${at - last} ms after the last refresh`);
  },
);

test("100 concurrent clients all get distinct addresses and close cleanly", { timeout: 30_000 }, async (t) => {
  const sb = await sandbox();
  t.after(() => sb.close());
  const node = sb.node(0);
  await node.endpoint({ name: "nse-1", services: ["icmp"], cidrs: ["10.10.0.0/16"] });
  const clients = await Promise.all(Array.from({ length: 100 }, () => node.client({ heal: false })));
  const t0 = performance.now();
  const conns = await Promise.all(clients.map((c) => c.request("kernel://icmp/nsm-1", { timeoutMs: 15_000 })));
  t.diagnostic(`100 concurrent requests in ${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(new Set(conns.map((c) => c.context!.ipContext!.srcIpAddrs[0])).size, 100);
  assert.equal(node.backends[0]!.crossConnects.size, 100);
  await Promise.all(conns.map((c, i) => clients[i]!.close(c, { timeoutMs: 15_000 })));
  assert.equal(node.backends[0]!.crossConnects.size, 0);
  assert.equal(node.nsmgr.endpoint.monitor.connections.size, 0);
});
