import { test } from "node:test";
import assert from "node:assert/strict";
import {
  clone,
  create,
  ConnectionContextSchema,
  ConnectionSchema,
  ConnectionState,
  IPContextSchema,
  NetworkServiceRequestSchema,
  type Connection,
} from "../api/index.js";
import {
  beginClient,
  beginServer,
  chain,
  eventFactory,
  metaKey,
  newCtx,
  type EventFactory,
  type ServerElement,
} from "./index.js";
import { deferred, injectError, newRequest } from "./testing/index.js";

test("begin serialises a Close behind an in-flight Request on the same id", async () => {
  const gate = deferred();
  const events: string[] = [];
  const slow: ServerElement = {
    async request(req, ctx, next) {
      events.push("req-start");
      await gate.promise;
      events.push("req-end");
      return next.request(req, ctx);
    },
    async close(conn, ctx, next) {
      events.push("close");
      return next.close(conn, ctx);
    },
  };
  const s = chain(beginServer(), slow);
  const req = s.request(newRequest("c1"), newCtx());
  await new Promise((r) => setImmediate(r));
  const close = s.close(newRequest("c1").connection!, newCtx());
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, ["req-start"], "close must wait");
  gate.resolve();
  const conn = await req;
  await close;
  assert.equal(conn.state, ConnectionState.UP);
  assert.deepEqual(events, ["req-start", "req-end", "close"]);
});

test("begin runs different ids concurrently", async () => {
  const gate = deferred();
  const started: string[] = [];
  const s = chain(beginServer(), {
    async request(req, ctx, next) {
      started.push(req.connection!.id);
      if (req.connection!.id === "a") await gate.promise;
      return next.request(req, ctx);
    },
  });
  const a = s.request(newRequest("a"), newCtx());
  await s.request(newRequest("b"), newCtx());
  assert.deepEqual(started, ["a", "b"]);
  gate.resolve();
  await a;
});

test("begin: close of an unknown id is a no-op; failed first request leaves no state", async () => {
  const b = beginServer();
  const inj = injectError({ onRequest: [0] });
  const s = chain(b, inj);
  await s.close(newRequest("nope").connection!, newCtx());
  assert.equal(inj.closes, 0);
  await assert.rejects(s.request(newRequest("x"), newCtx()), /injected/);
  assert.equal(b.size, 0);
  await s.request(newRequest("x"), newCtx());
  assert.equal(b.size, 1);
  await s.close(newRequest("x").connection!, newCtx());
  assert.equal(b.size, 0);
  assert.equal(inj.closes, 1);
});

test("begin gives per-connection ctx.meta and an event factory that re-requests and closes", async () => {
  const K = metaKey<number>("n");
  let last = 0;
  const closed: string[] = [];
  const s = chain(
    beginServer(),
    {
      async request(req, ctx, next) {
        last = (ctx.meta.get(K) ?? 0) + 1;
        ctx.meta.set(K, last);
        return next.request(req, ctx);
      },
      async close(conn, ctx, next) {
        closed.push(conn.id);
        return next.close(conn, ctx);
      },
    },
    {
      async request(req, ctx, next) {
        factories.set(req.connection!.id, eventFactory(ctx)!);
        return next.request(req, ctx);
      },
    },
  );
  const factories = new Map<string, ReturnType<typeof eventFactory> & object>();
  await s.request(newRequest("e1"), newCtx({ timeoutMs: 500 }));
  const ev = factories.get("e1")!;
  const conn = await ev.request();
  assert.equal(conn?.id, "e1");
  assert.equal(last, 2, "event request reuses the connection's metadata");
  await ev.close();
  assert.deepEqual(closed, ["e1"]);
  assert.equal(await ev.request(), undefined, "no events after close");
});

test("begin client: reselect closes the old path and clears endpoint and mechanism", async () => {
  const seen: { nse: string; state: number }[] = [];
  const closes: string[] = [];
  let factory: ReturnType<typeof eventFactory>;
  const c = chain(beginClient(), {
    async request(req, ctx, next) {
      factory = eventFactory(ctx, "client");
      seen.push({ nse: req.connection!.networkServiceEndpointName, state: req.connection!.state });
      req.connection!.networkServiceEndpointName ||= "nse-1";
      return next.request(req, ctx);
    },
    async close(conn, ctx, next) {
      closes.push(conn.networkServiceEndpointName);
      return next.close(conn, ctx);
    },
  });
  await c.request(newRequest("r1"), newCtx());
  await factory!.request({ reselect: true });
  assert.deepEqual(closes, ["nse-1"]);
  assert.deepEqual(seen[1], { nse: "", state: ConnectionState.RESELECT_REQUESTED });
});

/**
 * A client chain whose "endpoint" picks nse-1 the first time and, on a reselect, nse-2 with new
 * addresses, as heal would after nse-1 died. Returns what reached the endpoint each time.
 */
function healedClient() {
  const seen: Connection[] = [];
  let events: EventFactory | undefined;
  let addr = 1;
  const c = chain(beginClient(), {
    async request(req, ctx, next) {
      events = eventFactory(ctx, "client");
      const conn = req.connection!;
      seen.push(clone(ConnectionSchema, conn));
      if (!conn.networkServiceEndpointName) conn.networkServiceEndpointName = addr === 1 ? "nse-1" : "nse-2";
      conn.context ??= create(ConnectionContextSchema, { extraContext: { a: "1", b: "2" } });
      if (!conn.context.ipContext?.srcIpAddrs.length || conn.state === ConnectionState.RESELECT_REQUESTED) {
        conn.context.ipContext = create(IPContextSchema, { srcIpAddrs: [`10.0.0.${addr++}/32`] });
      }
      return next.request(req, ctx);
    },
  });
  return { c, seen, events: () => events! };
}

test("begin client merge: re-requesting the connection the caller was given keeps where heal moved it", async () => {
  const { c, seen, events } = healedClient();
  const given = await c.request(newRequest("m1"), newCtx());
  assert.equal(given.networkServiceEndpointName, "nse-1");
  const healed = await events().request({ reselect: true }); // heal: nse-1 died
  assert.equal(healed?.networkServiceEndpointName, "nse-2");
  // the caller refreshes with what it was given (nse-1, 10.0.0.1): neither is pinned again
  await c.request(create(NetworkServiceRequestSchema, { connection: given }), newCtx());
  const last = seen.at(-1)!;
  assert.equal(last.networkServiceEndpointName, "nse-2");
  assert.deepEqual(last.context?.ipContext?.srcIpAddrs, ["10.0.0.2/32"], "a stale context must not win");
});

test("begin client merge: what the caller deliberately changed wins (endpoint, context, extra_context keys)", async () => {
  const { c, seen, events } = healedClient();
  const withExtra = await c.request(newRequest("m2"), newCtx());
  assert.deepEqual(withExtra.context?.extraContext, { a: "1", b: "2" });
  await events().request(); // an event (refresh) changes nothing the caller sees
  const asked = clone(ConnectionSchema, withExtra);
  asked.networkServiceEndpointName = "nse-7";
  asked.context!.ipContext = create(IPContextSchema, { srcIpAddrs: ["10.9.9.9/32"] });
  asked.context!.extraContext = { a: "1", b: "3", c: "new" }; // b changed; c is new: upstream ignores new keys
  await c.request(create(NetworkServiceRequestSchema, { connection: asked }), newCtx());
  const last = seen.at(-1)!;
  assert.equal(last.networkServiceEndpointName, "nse-7");
  assert.deepEqual(last.context?.ipContext?.srcIpAddrs, ["10.9.9.9/32"]);
  assert.deepEqual(last.context?.extraContext, { a: "1", b: "3" });
  const dropped = clone(ConnectionSchema, last);
  dropped.context!.extraContext = { b: "3" }; // a removed by the caller
  await c.request(create(NetworkServiceRequestSchema, { connection: dropped }), newCtx());
  assert.deepEqual(seen.at(-1)!.context?.extraContext, { b: "3" });
});

test("begin client merge: caller labels do not overwrite the stored ones", async () => {
  const { c, seen } = healedClient();
  const first = newRequest("m3");
  first.connection!.labels = { app: "a" };
  const given = await c.request(first, newCtx());
  const again = clone(ConnectionSchema, given);
  again.labels = { app: "other", extra: "x" };
  await c.request(create(NetworkServiceRequestSchema, { connection: again }), newCtx());
  assert.deepEqual(seen.at(-1)!.labels, { app: "a" });
});

test("begin: a Request or Close re-entering begin from within its own event passes through", async () => {
  for (const side of ["server", "client"] as const) {
    const calls: string[] = [];
    let reentered = false;
    const b = side === "server" ? beginServer() : beginClient();
    const head: ReturnType<typeof chain> = chain(b, {
      async request(req, ctx, next) {
        calls.push(`req:${req.connection!.state}`);
        if (!reentered && eventFactory(ctx, side)) {
          reentered = true; // an element re-runs the whole chain from its head inside the event
          await head.request(req, ctx);
        }
        return next.request(req, ctx);
      },
      async close(conn, ctx, next) {
        calls.push("close");
        if (calls.filter((x) => x === "close").length === 1) await head.close(conn, ctx);
        return next.close(conn, ctx);
      },
    });
    const done = head.request(newRequest(`re-${side}`), newCtx());
    const outcome = await Promise.race([done.then(() => "done"), new Promise((r) => setTimeout(r, 1000, "deadlock"))]);
    assert.equal(outcome, "done", `${side}: the re-entering Request must not wait for itself`);
    assert.equal(calls.length, 2);
    const closing = head.close(newRequest(`re-${side}`).connection!, newCtx());
    const closed = await Promise.race([
      closing.then(() => "done"),
      new Promise((r) => setTimeout(r, 1000, "deadlock")),
    ]);
    assert.equal(closed, "done", `${side}: the re-entering Close must not wait for itself`);
    assert.deepEqual(calls.slice(2), ["close", "close"]);
    assert.equal(b.size, 0);
  }
});
