// upstreamRefreshClient: an endpoint's REFRESH_REQUESTED (monitor UPDATE) makes the client
// request again; UP updates do not; after Close nothing more is requested.
import { test } from "node:test";
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

test("REFRESH_REQUESTED from the endpoint → one more Request; none after Close", { timeout: 10_000 }, async (t) => {
  const life = new AbortController();
  t.after(() => life.abort());
  const mon = monitorServer(life.signal);
  let requests = 0;
  let sender: MonitorEventSender | undefined;
  const counter: ServerElement = {
    request(req, ctx, next) {
      requests++;
      sender = ctx.get(MONITOR_EVENTS);
      return next.request(req, ctx);
    },
  };
  const nse = chain(updatePathServer("nse"), beginServer({ signal: life.signal }), metadataServer(), mon, counter);
  // stands in for dial + connect: the next hop is the endpoint chain above
  const hop: ClientElement = {
    request(req, ctx) {
      ctx.clientMeta.set(CLIENT_CONN, { networkService: nse, monitor: mon });
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
  const conn: Connection = await nsc.request(newRequest("c"), newCtx());
  assert.equal(requests, 1);
  const atNse = [...mon.connections.keys()][0]!;
  // an UP update (another Request's echo) is no reason to ask again
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(requests, 1);
  assert.ok(sender!.refreshRequested(atNse));
  await until("the second Request", () => requests === 2);
  assert.ok(sender!.refreshRequested(atNse), "the new Request watches again");
  await until("the third Request", () => requests === 3);
  assert.equal(sender!.refreshRequested("nope"), false, "an unknown id is not sent");
  await nsc.close(conn, newCtx());
  assert.equal(sender!.refreshRequested(atNse), false, "closed: the endpoint no longer knows it");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(requests, 3);
});

test(
  "connections through one next hop share one monitor stream; it ends with the last Close",
  { timeout: 10_000 },
  async (t) => {
    const life = new AbortController();
    t.after(() => life.abort());
    const mon = monitorServer(life.signal);
    const requests = new Map<string, number>();
    let sender: MonitorEventSender | undefined;
    const counter: ServerElement = {
      request(req, ctx, next) {
        const id = req.connection!.id;
        requests.set(id, (requests.get(id) ?? 0) + 1);
        sender = ctx.get(MONITOR_EVENTS);
        return next.request(req, ctx);
      },
    };
    const nse = chain(updatePathServer("nse"), beginServer({ signal: life.signal }), metadataServer(), mon, counter);
    let opened = 0;
    let live = 0;
    const counted = {
      async *monitorConnections(
        sel: Parameters<typeof mon.monitorConnections>[0],
        ctx: Parameters<typeof mon.monitorConnections>[1],
      ) {
        opened++;
        live++;
        try {
          yield* mon.monitorConnections(sel, ctx);
        } finally {
          live--;
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
    const a = await nsc.request(newRequest("a"), newCtx());
    const b = await nsc.request(newRequest("b"), newCtx());
    await nsc.request(newRequest("a"), newCtx()); // a refresh keeps the stream
    assert.equal(opened, 1, "one stream for both connections and the refresh");
    const nseIdOf = (conn: Connection) => conn.path!.pathSegments[1]!.id;
    const before = requests.get(nseIdOf(b)) ?? 0;
    assert.ok(sender!.refreshRequested(nseIdOf(b)));
    await until("b's Request", () => requests.get(nseIdOf(b)) === before + 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(requests.get(nseIdOf(a)), 2, "a was not asked: only b's Request runs");
    await nsc.close(a, newCtx());
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(live, 1, "b still watches");
    await nsc.close(b, newCtx());
    await until("the stream's end after the last Close", () => live === 0);
  },
);
