import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionState } from "../api/index.js";
import { beginClient, beginServer, chain, eventFactory, metaKey, newCtx, type ServerElement } from "./index.js";
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
