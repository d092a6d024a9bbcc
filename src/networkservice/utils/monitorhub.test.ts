// MonitorHubs against a real monitor server: events routed by segment id to every watcher of that
// id, the stream shared and closed with its last watcher, `end` on a break but not on our lifetime's end.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { ConnectionEventType, type Connection } from "../../api/index.js";
import { beginServer, chain, metadataServer, newCtx, type ClientElement } from "../../core/index.js";
import { newRequest } from "../../core/testing/index.js";
import { monitorServer } from "../common/monitor/server.js";
import { updatePathClient } from "../common/updatepath/client.js";
import { updatePathServer } from "../common/updatepath/server.js";
import { MonitorHubs, type HubWatcher } from "./monitorhub.js";

async function until(what: string, f: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(f(), `timed out waiting for ${what}`);
}

/** "nsc" → an endpoint "nse" with a real monitor server (its own lifetime: aborting it breaks our streams) */
function setup(t: TestContext) {
  const nseLife = new AbortController();
  const ourLife = new AbortController();
  t.after(() => {
    ourLife.abort();
    nseLife.abort();
  });
  const mon = monitorServer(nseLife.signal);
  const nse = chain(updatePathServer("nse"), beginServer({ signal: nseLife.signal }), metadataServer(), mon);
  const hop: ClientElement = {
    request: (req) => nse.request(req, newCtx()),
    close: (conn) => nse.close(conn, newCtx()),
  };
  const nsc = chain(updatePathClient("nsc"), hop);
  return { mon, nsc, nseLife, ourLife, hubs: new MonitorHubs(ourLife.signal) };
}

/** a watcher that records what it was told */
function recorder() {
  const events: { type: ConnectionEventType; id: string }[] = [];
  const ends: string[] = [];
  const w: HubWatcher = {
    event: (type, c) => void events.push({ type, id: c.path!.pathSegments[0]!.id }),
    end: (reason) => void ends.push(reason),
  };
  return { w, events, ends, updates: () => events.filter((e) => e.type === ConnectionEventType.UPDATE).length };
}

const segId = (c: Connection) => c.path!.pathSegments[0]!.id;

test(
  "monitorhub: two watchers of one segment id share the stream; each gets its events; the last stop closes it",
  { timeout: 10_000 },
  async (t) => {
    const { mon, nsc, hubs } = setup(t);
    const a = await nsc.request(newRequest("a"), newCtx());
    const b = await nsc.request(newRequest("b"), newCtx());
    const log = newCtx().log;
    const heal = recorder(),
      refresh = recorder(),
      other = recorder();
    const w1 = hubs.watch({ monitor: mon }, "nsc", segId(a), log, heal.w);
    const w2 = hubs.watch({ monitor: mon }, "nsc", segId(a), log, refresh.w);
    const w3 = hubs.watch({ monitor: mon }, "nsc", segId(b), log, other.w);
    assert.equal(hubs.streams, 1);
    await until("the initial transfer", () => heal.events.length === 1 && refresh.events.length === 1);
    assert.equal(mon.subscribers, 1, "one stream at the next hop");
    assert.deepEqual(heal.events, [{ type: ConnectionEventType.INITIAL_STATE_TRANSFER, id: segId(a) }]);

    await nsc.request(newRequest("a"), newCtx()); // a refresh: an UPDATE about a only
    await until("a's UPDATE at both watchers", () => heal.updates() === 1 && refresh.updates() === 1);
    assert.equal(other.updates(), 0, "b's watcher hears nothing of a");

    w1.stop();
    w1.stop(); // idempotent
    await nsc.request(newRequest("a"), newCtx());
    await until("a's second UPDATE at the remaining watcher", () => refresh.updates() === 2);
    assert.equal(heal.updates(), 1, "nothing after its own stop");
    assert.ok(w2.live && w3.live);
    w2.stop();
    assert.equal(hubs.streams, 1, "b's watcher keeps it open");
    w3.stop();
    assert.equal(hubs.streams, 0);
    await until("the stream's end at the next hop", () => mon.subscribers === 0);
    assert.deepEqual([...heal.ends, ...refresh.ends, ...other.ends], [], "no end after our own stop");
  },
);

test(
  "monitorhub: a broken stream ends every watcher on it; a new watch opens a new stream",
  { timeout: 10_000 },
  async (t) => {
    const { mon, nsc, hubs, nseLife } = setup(t);
    const a = await nsc.request(newRequest("a"), newCtx());
    const log = newCtx().log;
    const x = recorder(),
      y = recorder();
    const wx = hubs.watch({ monitor: mon }, "nsc", segId(a), log, x.w);
    const wy = hubs.watch({ monitor: mon }, "nsc", segId(a), log, y.w);
    await until("the initial transfer", () => x.events.length === 1 && y.events.length === 1);
    nseLife.abort(); // the next hop goes away: its monitor streams end
    await until("end at both watchers", () => x.ends.length === 1 && y.ends.length === 1);
    assert.equal(x.ends[0], "the next hop closed the monitor stream");
    assert.ok(!wx.live && !wy.live);
    assert.equal(hubs.streams, 0);
    wx.stop(); // after the break: a no-op
    const mon2 = monitorServer(t.signal);
    const wz = hubs.watch({ monitor: mon2 }, "nsc", segId(a), log, recorder().w);
    assert.ok(wz.live);
    assert.equal(hubs.streams, 1);
    wz.stop();
  },
);

test(
  "monitorhub: the end of our own lifetime closes the stream without calling end",
  { timeout: 10_000 },
  async (t) => {
    const { mon, nsc, hubs, ourLife } = setup(t);
    const a = await nsc.request(newRequest("a"), newCtx());
    const x = recorder();
    const wx = hubs.watch({ monitor: mon }, "nsc", segId(a), newCtx().log, x.w);
    await until("the initial transfer", () => x.events.length === 1);
    ourLife.abort();
    await until("the stream's end at the next hop", () => mon.subscribers === 0);
    await until("the hub to forget it", () => hubs.streams === 0);
    assert.ok(!wx.live);
    assert.deepEqual(x.ends, []);
  },
);
