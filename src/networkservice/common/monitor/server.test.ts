import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionEventType, create, MonitorScopeSelectorSchema, type ConnectionEvent } from "../../../api/index.js";
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
