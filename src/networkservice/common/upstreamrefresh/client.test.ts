// upstreamRefreshClient: an endpoint's REFRESH_REQUESTED (monitor UPDATE) makes the client
// request again; UP updates do not; after Close nothing more is requested.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type { Connection } from "../../../api/index.js";
import {
  beginClient,
  beginServer,
  chain,
  metadataClient,
  metadataServer,
  newCtx,
  type ClientElement,
  type ServerElement,
} from "../../../core/index.js";
import { newRequest } from "../../../core/testing/index.js";
import { CLIENT_CONN, MONITOR_EVENTS, type MonitorEventSender } from "../../utils/keys.js";
import { monitorServer } from "../monitor/server.js";
import { updatePathClient } from "../updatepath/client.js";
import { updatePathServer } from "../updatepath/server.js";
import { upstreamRefreshClient } from "./client.js";

const until = async (what: string, f: () => boolean) => {
  for (let i = 0; i < 300 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(f(), `timed out waiting for ${what}`);
};

/**
 * nsc (updatepath → begin → metadata → upstreamrefresh) → a stand-in for dial + connect → an
 * endpoint chain with a real monitor server; counts the endpoint's Requests per connection id
 * (there) and the monitor streams opened to it.
 */
function setup(t: TestContext) {
  const life = new AbortController();
  t.after(() => life.abort());
  const mon = monitorServer(life.signal);
  const requests = new Map<string, number>();
  const f = {
    mon,
    requests,
    /** every Request the endpoint saw */
    total: () => [...requests.values()].reduce((a, b) => a + b, 0),
    /** the endpoint's event sender (set by its first Request) */
    sender: undefined as MonitorEventSender | undefined,
    opened: 0,
    live: 0,
  };
  const counter: ServerElement = {
    request(req, ctx, next) {
      const id = req.connection!.id;
      requests.set(id, (requests.get(id) ?? 0) + 1);
      f.sender = ctx.get(MONITOR_EVENTS);
      return next.request(req, ctx);
    },
  };
  const nse = chain(updatePathServer("nse"), beginServer({ signal: life.signal }), metadataServer(), mon, counter);
  const counted = {
    async *monitorConnections(
      sel: Parameters<typeof mon.monitorConnections>[0],
      ctx: Parameters<typeof mon.monitorConnections>[1],
    ) {
      f.opened++;
      f.live++;
      try {
        yield* mon.monitorConnections(sel, ctx);
      } finally {
        f.live--;
      }
    },
  };
  const hop: ClientElement = {
    request(req, ctx) {
      ctx.clientMeta.set(CLIENT_CONN, { networkService: nse, monitor: counted });
      return nse.request(req, newCtx());
    },
    close(conn) {
      return nse.close(conn, newCtx());
    },
  };
  const nsc = chain(
    updatePathClient("nsc"),
    beginClient({ signal: life.signal }),
    metadataClient(),
    upstreamRefreshClient(life.signal),
    hop,
  );
  return Object.assign(f, { nsc });
}

test("REFRESH_REQUESTED from the endpoint → one more Request; none after Close", { timeout: 10_000 }, async (t) => {
  const f = setup(t);
  const conn: Connection = await f.nsc.request(newRequest("c"), newCtx());
  assert.equal(f.total(), 1);
  const atNse = [...f.mon.connections.keys()][0]!;
  // an UP update (another Request's echo) is no reason to ask again
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(f.total(), 1);
  assert.ok(f.sender!.refreshRequested(atNse));
  await until("the second Request", () => f.total() === 2);
  assert.ok(f.sender!.refreshRequested(atNse), "the new Request watches again");
  await until("the third Request", () => f.total() === 3);
  assert.equal(f.sender!.refreshRequested("nope"), false, "an unknown id is not sent");
  await f.nsc.close(conn, newCtx());
  assert.equal(f.sender!.refreshRequested(atNse), false, "closed: the endpoint no longer knows it");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(f.total(), 3);
});

test(
  "connections through one next hop share one monitor stream; it ends with the last Close",
  { timeout: 10_000 },
  async (t) => {
    const f = setup(t);
    const a = await f.nsc.request(newRequest("a"), newCtx());
    const b = await f.nsc.request(newRequest("b"), newCtx());
    await f.nsc.request(newRequest("a"), newCtx()); // a refresh keeps the stream
    assert.equal(f.opened, 1, "one stream for both connections and the refresh");
    const nseIdOf = (conn: Connection) => conn.path!.pathSegments[1]!.id;
    const before = f.requests.get(nseIdOf(b)) ?? 0;
    assert.ok(f.sender!.refreshRequested(nseIdOf(b)));
    await until("b's Request", () => f.requests.get(nseIdOf(b)) === before + 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(f.requests.get(nseIdOf(a)), 2, "a was not asked: only b's Request runs");
    await f.nsc.close(a, newCtx());
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(f.live, 1, "b still watches");
    await f.nsc.close(b, newCtx());
    await until("the stream's end after the last Close", () => f.live === 0);
  },
);
