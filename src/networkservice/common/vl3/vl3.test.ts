// The vL3 address plan: a client gets the next host of our prefix and routes to us, our prefix
// and the global net; a peer endpoint (own address + DNS config) gets nothing allocated; a
// request naming another endpoint's address starts afresh; Close frees; not ready = refused.
// The client side puts our address and prefix into the peer's routes. A new prefix: peers keep
// their own address, and every live connection is asked (monitor) to request again.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  clone,
  create,
  ConnectionContextSchema,
  ConnectionEventType,
  ConnectionSchema,
  ConnectionState,
  MonitorScopeSelectorSchema,
  type Connection,
  type ConnectionEvent,
} from "../../../api/index.js";
import { beginServer, chain, metadataServer, newCtx } from "../../../core/index.js";
import { monitorServer } from "../monitor/server.js";
import { updatePathServer } from "../updatepath/server.js";
import { newRequest, testCtx } from "../../../core/testing/index.js";
import { Vl3Pool } from "../../utils/vl3pool.js";
import { vl3Server } from "./server.js";
import { vl3Client } from "./client.js";

const routes = (c: Connection, side: "src" | "dst") =>
  (side === "src" ? c.context!.ipContext!.srcRoutes : c.context!.ipContext!.dstRoutes).map(
    (r) => `${r.prefix}${r.nextHop ? ` via ${r.nextHop}` : ""}`,
  );

test("server: client addresses and routes, stable on refresh, freed on Close", async () => {
  const pool = new Vl3Pool();
  const s = chain(vl3Server(pool));
  await assert.rejects(s.request(newRequest("c0"), testCtx()), /prefix pool is initializing/);
  pool.reset("172.16.1.0/24");
  assert.equal(pool.globalNet, "172.16.1.0/16");
  const ctx = testCtx();
  const c = await s.request(newRequest("c1"), ctx);
  assert.deepEqual(c.context!.ipContext!.srcIpAddrs, ["172.16.1.1/32"]);
  assert.deepEqual(c.context!.ipContext!.dstIpAddrs, ["172.16.1.0/32"]);
  assert.deepEqual(routes(c, "src"), [
    "172.16.1.0/32 via 172.16.1.0",
    "172.16.1.0/24 via 172.16.1.0",
    "172.16.1.0/16 via 172.16.1.0",
  ]);
  assert.deepEqual(routes(c, "dst"), ["172.16.1.1/32"]);
  const again = await s.request(newRequest("c1"), ctx);
  assert.deepEqual(again.context!.ipContext!.srcIpAddrs, ["172.16.1.1/32"], "same id: same address");
  const ctx2 = testCtx();
  const c2 = await s.request(newRequest("c2"), ctx2);
  assert.deepEqual(c2.context!.ipContext!.srcIpAddrs, ["172.16.1.2/32"]);
  await s.close(c, ctx);
  const c3 = await s.request(newRequest("c3"), testCtx());
  assert.deepEqual(c3.context!.ipContext!.srcIpAddrs, ["172.16.1.1/32"], "the freed address is used again");
});

test("server: a peer endpoint keeps its own address; a foreign dst address resets the context", async () => {
  const pool = new Vl3Pool();
  pool.reset("172.16.1.0/24");
  const s = chain(vl3Server(pool));
  const peer = newRequest("peer");
  peer.connection!.context = create(ConnectionContextSchema, {
    ipContext: { srcIpAddrs: ["172.16.0.0/32"], dstRoutes: [{ prefix: "172.16.0.0/24", nextHop: "172.16.0.0" }] },
    dnsContext: { configs: [{ dnsServerIps: ["172.16.0.0"] }] },
  });
  const p = await s.request(peer, testCtx());
  assert.deepEqual(p.context!.ipContext!.srcIpAddrs, ["172.16.0.0/32"]);
  assert.deepEqual(routes(p, "dst"), ["172.16.0.0/24 via 172.16.0.0", "172.16.0.0/32"]);
  // a client healing from the endpoint with 172.16.0.0/24 to us
  const healed = newRequest("moved");
  healed.connection!.context = create(ConnectionContextSchema, {
    ipContext: { srcIpAddrs: ["172.16.0.5/32"], dstIpAddrs: ["172.16.0.0/32"] },
    dnsContext: { configs: [{ dnsServerIps: ["172.16.0.0"] }] },
  });
  const h = await s.request(healed, testCtx());
  assert.deepEqual(h.context!.ipContext!.srcIpAddrs, ["172.16.1.1/32"]);
  assert.deepEqual(h.context!.ipContext!.dstIpAddrs, ["172.16.1.0/32"]);
});

test("server: our prefix changes → a new address, nothing of the old plan left", async () => {
  const pool = new Vl3Pool();
  pool.reset("172.16.1.0/24");
  const s = chain(vl3Server(pool));
  const ctx = testCtx();
  const c = await s.request(newRequest("c"), ctx);
  pool.reset("172.16.7.0/24");
  const req = newRequest("c");
  req.connection = c;
  const c2 = await s.request(req, ctx);
  assert.deepEqual(c2.context!.ipContext!.srcIpAddrs, ["172.16.7.1/32"]);
  assert.deepEqual(c2.context!.ipContext!.dstIpAddrs, ["172.16.7.0/32"]);
  assert.ok(
    routes(c2, "src").every((r) => r.startsWith("172.16.7.")),
    routes(c2, "src").join(),
  );
});

test("client: our address and prefix go to the peer's routes", async () => {
  const pool = new Vl3Pool();
  pool.reset("172.16.2.0/24");
  const c = chain(vl3Client(pool));
  const conn = await c.request(newRequest("to-peer"), testCtx());
  assert.deepEqual(conn.context!.ipContext!.srcIpAddrs, ["172.16.2.0/32"]);
  assert.deepEqual(routes(conn, "dst"), ["172.16.2.0/32 via 172.16.2.0", "172.16.2.0/24 via 172.16.2.0"]);
});

test("dual stack: one element per family, each keeps its own address; strict looks at its own family", async () => {
  const v4 = new Vl3Pool(),
    v6 = new Vl3Pool();
  v4.reset("172.16.1.0/24");
  v6.reset("2001:db8::/112");
  const s = chain(vl3Server(v4), vl3Server(v6));
  const ctx = testCtx();
  const c = await s.request(newRequest("c"), ctx);
  assert.deepEqual(c.context!.ipContext!.srcIpAddrs, ["172.16.1.1/32", "2001:db8::1/128"]);
  assert.deepEqual(c.context!.ipContext!.dstIpAddrs, ["172.16.1.0/32", "2001:db8::/128"]);
  const req = newRequest("c");
  req.connection = c;
  const again = await s.request(req, ctx);
  assert.deepEqual(again.context!.ipContext!.srcIpAddrs, ["172.16.1.1/32", "2001:db8::1/128"], "refresh keeps both");
});

test("server: our prefix changes → a peer keeps its address, loses our old one and routes", async () => {
  const pool = new Vl3Pool();
  pool.reset("172.16.1.0/24");
  const s = chain(vl3Server(pool));
  const ctx = testCtx();
  const peer = newRequest("peer");
  peer.connection!.context = create(ConnectionContextSchema, {
    ipContext: { srcIpAddrs: ["172.16.0.0/32"], dstRoutes: [{ prefix: "172.16.0.0/24", nextHop: "172.16.0.0" }] },
    dnsContext: { configs: [{ dnsServerIps: ["172.16.0.0"] }] },
  });
  const p = await s.request(peer, ctx);
  pool.reset("172.16.9.0/24");
  const again = newRequest("peer");
  again.connection = p;
  const p2 = await s.request(again, ctx);
  assert.deepEqual(p2.context!.ipContext!.srcIpAddrs, ["172.16.0.0/32"], "the peer's own address, nothing allocated");
  assert.deepEqual(p2.context!.ipContext!.dstIpAddrs, ["172.16.9.0/32"]);
  assert.deepEqual(routes(p2, "src"), [
    "172.16.9.0/32 via 172.16.9.0",
    "172.16.9.0/24 via 172.16.9.0",
    "172.16.9.0/16 via 172.16.9.0",
  ]);
  assert.deepEqual(routes(p2, "dst"), ["172.16.0.0/24 via 172.16.0.0", "172.16.0.0/32"]);
});

test("server: our prefix changes → every live connection is asked to request again (REFRESH_REQUESTED)", async (t) => {
  const life = new AbortController();
  t.after(() => life.abort());
  const pool = new Vl3Pool();
  pool.reset("172.16.1.0/24");
  const mon = monitorServer(life.signal);
  const s = chain(
    updatePathServer("vl3"),
    beginServer({ signal: life.signal }),
    metadataServer(),
    mon,
    vl3Server(pool),
  );
  const a = await s.request(newRequest("a"), newCtx());
  const b = await s.request(newRequest("b"), newCtx());
  await s.close(b, newCtx());
  const it = mon
    .monitorConnections(create(MonitorScopeSelectorSchema, {}), newCtx({ signal: life.signal }))
    [Symbol.asyncIterator]();
  assert.equal(((await it.next()).value as ConnectionEvent).type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  pool.reset("172.16.7.0/24");
  const ev = (await it.next()).value as ConnectionEvent;
  assert.equal(ev.type, ConnectionEventType.UPDATE);
  assert.deepEqual(Object.keys(ev.connections), [a.id], "the closed connection is not asked");
  assert.equal(ev.connections[a.id]!.state, ConnectionState.REFRESH_REQUESTED);
  // the client's Request then gets the new plan
  const req = newRequest("a");
  req.connection = clone(ConnectionSchema, a);
  const a2 = await s.request(req, newCtx());
  assert.deepEqual(a2.context!.ipContext!.srcIpAddrs, ["172.16.7.1/32"]);
  assert.equal(mon.connections.get(a.id)!.state, ConnectionState.UP);
});
