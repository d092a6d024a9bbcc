// vl3 MTU: 9000 by default; a request with a smaller MTU lowers it for the connections that
// follow, and the connections made before are asked (monitor UPDATE, REFRESH_REQUESTED) to
// request again with the new MTU.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  create,
  ConnectionContextSchema,
  ConnectionEventType,
  ConnectionState,
  MonitorScopeSelectorSchema,
  type ConnectionEvent,
} from "../../../api/index.js";
import { beginServer, chain, metadataServer, newCtx } from "../../../core/index.js";
import { newRequest, testCtx } from "../../../core/testing/index.js";
import { monitorServer } from "../monitor/server.js";
import { updatePathServer } from "../updatepath/server.js";
import { vl3MtuServer } from "./server.js";

test("smallest MTU wins", async () => {
  const m = vl3MtuServer();
  const s = chain(m);
  assert.equal((await s.request(newRequest("a"), testCtx())).context!.MTU, 9000);
  const small = newRequest("b");
  small.connection!.context = create(ConnectionContextSchema, { MTU: 1446 });
  assert.equal((await s.request(small, testCtx())).context!.MTU, 1446);
  assert.equal((await s.request(newRequest("c"), testCtx())).context!.MTU, 1446);
  assert.equal(m.mtu, 1446);
});

test("a lower MTU is pushed to the connections made before it (REFRESH_REQUESTED)", async (t) => {
  const life = new AbortController();
  t.after(() => life.abort());
  const mon = monitorServer(life.signal);
  const s = chain(updatePathServer("vl3"), beginServer({ signal: life.signal }), metadataServer(), mon, vl3MtuServer());
  const a = await s.request(newRequest("a"), newCtx());
  const gone = await s.request(newRequest("gone"), newCtx());
  await s.close(gone, newCtx());
  const it = mon
    .monitorConnections(create(MonitorScopeSelectorSchema, {}), newCtx({ signal: life.signal }))
    [Symbol.asyncIterator]();
  assert.equal(((await it.next()).value as ConnectionEvent).type, ConnectionEventType.INITIAL_STATE_TRANSFER);
  const small = newRequest("b");
  small.connection!.context = create(ConnectionContextSchema, { MTU: 1400 });
  const b = await s.request(small, newCtx());
  const ev = (await it.next()).value as ConnectionEvent;
  assert.equal(ev.type, ConnectionEventType.UPDATE);
  assert.equal(ev.connections[b.id]?.state, ConnectionState.UP, "b's own update");
  const pushed = ev.connections[a.id];
  assert.ok(pushed, `a is told: ${Object.keys(ev.connections).join()}`);
  assert.equal(pushed.state, ConnectionState.REFRESH_REQUESTED);
  assert.equal(pushed.context!.MTU, 1400);
  assert.equal(ev.connections[gone.id], undefined, "a closed connection is not told");
  assert.equal(mon.connections.get(a.id)!.context!.MTU, 9000, "the stored view changes only with a Request");
  // a larger MTU later changes nothing and tells nobody
  const big = newRequest("c");
  big.connection!.context = create(ConnectionContextSchema, { MTU: 8000 });
  const c = await s.request(big, newCtx());
  assert.equal(c.context!.MTU, 1400);
  const ev2 = (await it.next()).value as ConnectionEvent;
  assert.deepEqual(Object.keys(ev2.connections), [c.id]);
});
