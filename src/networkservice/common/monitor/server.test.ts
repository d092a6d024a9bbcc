import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ConnectionEventType,
  create,
  MonitorScopeSelectorSchema,
  type Connection,
  type ConnectionEvent,
} from "../../../api/index.js";
import { beginServer, chain, metadataServer, newCtx } from "../../../core/index.js";
import { newRequest } from "../../../core/testing/index.js";
import { updatePathServer } from "../updatepath/server.js";
import { monitorServer } from "./server.js";

test(
  "monitor: initial transfer (even empty), UPDATE after Request, DELETE after Close, selector filters",
  { timeout: 5000 },
  async () => {
    const life = new AbortController();
    const mon = monitorServer(life.signal);
    const s = chain(updatePathServer("nse"), beginServer({ signal: life.signal }), metadataServer(), mon);
    const stream = new AbortController();
    const it = mon
      .monitorConnections(create(MonitorScopeSelectorSchema, {}), newCtx({ signal: stream.signal }))
      [Symbol.asyncIterator]();
    const next = async (): Promise<ConnectionEvent> => (await it.next()).value as ConnectionEvent;
    const init = await next();
    assert.equal(init.type, ConnectionEventType.INITIAL_STATE_TRANSFER);
    assert.equal(Object.keys(init.connections).length, 0);
    const conn = await s.request(newRequest("c1"), newCtx());
    const up = await next();
    assert.equal(up.type, ConnectionEventType.UPDATE);
    assert.ok(up.connections[conn.id]);
    // another subscriber only for some other segment id sees nothing but its initial transfer
    const other = mon
      .monitorConnections(
        create(MonitorScopeSelectorSchema, { pathSegments: [{ id: "nope" }] }),
        newCtx({ signal: stream.signal }),
      )
      [Symbol.asyncIterator]();
    assert.equal(Object.keys(((await other.next()).value as ConnectionEvent).connections).length, 0);
    await s.close(conn, newCtx());
    const del = await next();
    assert.equal(del.type, ConnectionEventType.DELETE);
    assert.ok(del.connections[conn.id]);
    stream.abort();
    assert.equal((await it.next()).done, true);
    assert.equal(mon.subscribers, 0);
    life.abort();
  },
);

test(
  "monitor: one stream per connection (selector by segment id) gets its own connection only, in the initial transfer and after a refresh",
  { timeout: 20_000 },
  async () => {
    const life = new AbortController();
    const mon = monitorServer(life.signal);
    const s = chain(updatePathServer("nse"), beginServer({ signal: life.signal }), metadataServer(), mon);
    const streams = new AbortController();
    const n = 300;
    const conns: Connection[] = [];
    for (let i = 0; i < n; i++) conns.push(await s.request(newRequest(`c${i}`), newCtx()));
    const open = (id: string) =>
      mon
        .monitorConnections(
          create(MonitorScopeSelectorSchema, { pathSegments: [{ id }] }),
          newCtx({ signal: streams.signal }),
        )
        [Symbol.asyncIterator]();
    const its = conns.map((c) => open(c.path!.pathSegments[0]!.id));
    const inits = await Promise.all(its.map(async (it) => (await it.next()).value as ConnectionEvent));
    inits.forEach((ev, i) =>
      assert.deepEqual(Object.keys(ev.connections), [conns[i]!.id], `stream ${i}: its own only`),
    );
    const byName = mon
      .monitorConnections(
        create(MonitorScopeSelectorSchema, { pathSegments: [{ name: "nse" }] }),
        newCtx({ signal: streams.signal }),
      )
      [Symbol.asyncIterator]();
    assert.equal(Object.keys(((await byName.next()).value as ConnectionEvent).connections).length, n);
    // a refresh of c7 reaches stream 7 and the stream by name, nobody else
    await s.request(newRequest("c7"), newCtx());
    const ev7 = (await its[7]!.next()).value as ConnectionEvent;
    assert.deepEqual(Object.keys(ev7.connections), [conns[7]!.id]);
    assert.deepEqual(Object.keys(((await byName.next()).value as ConnectionEvent).connections), [conns[7]!.id]);
    await new Promise((r) => setImmediate(r));
    const pending = await Promise.race([its[8]!.next(), new Promise((r) => setTimeout(() => r("none"), 20))]);
    assert.equal(pending, "none", "stream 8 saw nothing of c7");
    streams.abort();
    assert.equal(mon.subscribers, 0);
    life.abort();
  },
);
