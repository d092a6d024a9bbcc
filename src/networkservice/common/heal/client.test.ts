import { test } from "node:test";
import assert from "node:assert/strict";
import {
  clone,
  ConnectionEventType,
  ConnectionSchema,
  ConnectionState,
  create,
  ConnectionEventSchema,
  ConnectionContextSchema,
  PathSchema,
  type Connection,
  type ConnectionEvent,
} from "../../../api/index.js";
import { beginClient, chain, metadataClient, newCtx, type ClientElement } from "../../../core/index.js";
import { deferred, newRequest } from "../../../core/testing/index.js";
import { CLIENT_CONN } from "../../utils/keys.js";
import { healClient, type HealOptions } from "./client.js";

/** A monitor stream the test drives: push events, then end it (nsmgr gone) with an error. */
class Feed {
  private queue: (ConnectionEvent | Error)[] = [];
  private wake: (() => void) | undefined;
  opened = 0;
  push(x: ConnectionEvent | Error) {
    this.queue.push(x);
    this.wake?.();
  }
  async *stream(signal: AbortSignal): AsyncGenerator<ConnectionEvent> {
    this.opened++;
    for (;;) {
      while (!this.queue.length) {
        if (signal.aborted) return;
        await new Promise<void>((r) => {
          this.wake = r;
          signal.addEventListener("abort", () => r(), { once: true });
        });
      }
      const x = this.queue.shift()!;
      if (x instanceof Error) throw x;
      yield x;
    }
  }
}

/** The NSC-side view of our connection as nsmgr's monitor reports it (index 1 = nsmgr). */
function event(conn: Connection, type = ConnectionEventType.UPDATE, state = ConnectionState.UP, dst?: string) {
  const c = clone(ConnectionSchema, conn);
  c.path!.index = 1;
  c.state = state;
  if (dst) c.context!.ipContext!.dstIpAddrs = [dst];
  return create(ConnectionEventSchema, { type, connections: { [c.id]: c } });
}

interface Seen {
  nse: string;
  state: ConnectionState;
}

/** begin → metadata → heal → (fake dial) → an "nsmgr" picking nse-1, nse-2, ... on each reselect. */
function setup(o: HealOptions & { failPlain?: number } = {}) {
  const feed = new Feed();
  const requests: Seen[] = [];
  const closes: string[] = [];
  const life = new AbortController();
  const healed = deferred<Connection>();
  let picks = 0;
  let failPlain = o.failPlain ?? 0;
  const fakeDial: ClientElement = {
    request(req, ctx, next) {
      ctx.clientMeta.set(CLIENT_CONN, {
        networkService: next as never,
        monitor: { monitorConnections: (_sel, c) => feed.stream(c.signal) },
      });
      return next.request(req, ctx);
    },
  };
  const nsmgr: ClientElement = {
    async request(req) {
      const conn = req.connection!;
      requests.push({ nse: conn.networkServiceEndpointName, state: conn.state });
      if (conn.networkServiceEndpointName && conn.state !== ConnectionState.RESELECT_REQUESTED && requests.length > 1) {
        if (failPlain-- > 0) throw new Error("nse-1 is dead");
      }
      if (!conn.networkServiceEndpointName) conn.networkServiceEndpointName = `nse-${++picks}`;
      conn.path ??= create(PathSchema, {
        index: 0,
        pathSegments: [
          { name: "nsc", id: conn.id },
          { name: "nsmgr", id: "m" },
        ],
      });
      conn.context = create(ConnectionContextSchema, {
        ipContext: { srcIpAddrs: [`10.0.${picks}.1/32`], dstIpAddrs: [`10.0.${picks}.2/32`] },
      });
      return clone(ConnectionSchema, conn);
    },
    async close(conn) {
      closes.push(conn.networkServiceEndpointName);
    },
  };
  const c = chain(
    beginClient({ signal: life.signal }),
    metadataClient(),
    healClient(life.signal, { retryMs: 10, ...o, onHealed: (_id, conn) => healed.resolve(conn) }),
    fakeDial,
    nsmgr,
  );
  return { c, feed, requests, closes, life, healed: healed.promise };
}

test("heal: monitor stream lost, data plane alive → re-request without reselect (same NSE, nothing closed)", async (t) => {
  const checked: string[] = [];
  const s = setup({
    livenessCheck: async (conn) => (checked.push(conn.context!.ipContext!.dstIpAddrs[0]!), true),
    livenessIntervalMs: 60_000,
  });
  t.after(() => s.life.abort());
  const conn = await s.c.request(newRequest("h1"), newCtx());
  s.feed.push(event(conn)); // initial state
  s.feed.push(new Error("nsmgr gone"));
  const healed = await s.healed;
  assert.equal(healed.networkServiceEndpointName, "nse-1");
  assert.deepEqual(s.requests.at(-1), { nse: "nse-1", state: ConnectionState.UP });
  assert.deepEqual(s.closes, []);
  assert.deepEqual(checked, ["10.0.1.2/32"]);
});

test("heal: our copy of the connection follows monitor updates (the check pings the new address)", async (t) => {
  const checked: string[] = [];
  const s = setup({
    livenessCheck: async (conn) => (checked.push(conn.context!.ipContext!.dstIpAddrs[0]!), true),
    livenessIntervalMs: 60_000,
  });
  t.after(() => s.life.abort());
  const conn = await s.c.request(newRequest("h2"), newCtx());
  s.feed.push(event(conn, ConnectionEventType.UPDATE, ConnectionState.UP, "10.9.9.9/32"));
  s.feed.push(new Error("nsmgr gone"));
  await s.healed;
  assert.deepEqual(checked, ["10.9.9.9/32"]);
});

test("heal: DOWN from a live control plane, data plane alive, plain re-request fails → reselect to another NSE", async (t) => {
  const s = setup({ livenessCheck: async () => true, livenessIntervalMs: 60_000, failPlain: 1 });
  t.after(() => s.life.abort());
  const conn = await s.c.request(newRequest("h3"), newCtx());
  s.feed.push(event(conn, ConnectionEventType.UPDATE, ConnectionState.DOWN));
  const healed = await s.healed;
  assert.equal(healed.networkServiceEndpointName, "nse-2");
  assert.deepEqual(
    s.requests.slice(1).map((r) => r.state),
    [ConnectionState.UP, ConnectionState.RESELECT_REQUESTED],
  );
  assert.deepEqual(s.closes, ["nse-1"]);
});

test("heal: the data-plane check fails → reselect", async (t) => {
  let alive = true;
  const s = setup({ livenessCheck: async () => alive, livenessIntervalMs: 20 });
  t.after(() => s.life.abort());
  await s.c.request(newRequest("h4"), newCtx());
  alive = false;
  const healed = await s.healed;
  assert.equal(healed.networkServiceEndpointName, "nse-2");
  assert.equal(s.requests.at(-1)!.state, ConnectionState.RESELECT_REQUESTED);
  assert.deepEqual(s.closes, ["nse-1"]);
});
