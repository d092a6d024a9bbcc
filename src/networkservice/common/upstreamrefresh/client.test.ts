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
