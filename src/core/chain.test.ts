import { test } from "node:test";
import assert from "node:assert/strict";
import { chain, metaKey, metadataServer, newCtx, type ServerElement } from "./index.js";
import { checkRequest, newRequest } from "./testing/index.js";

const order = (log: string[], name: string): ServerElement => ({
  async request(req, ctx, next) {
    log.push(`>${name}`);
    const c = await next.request(req, ctx);
    log.push(`<${name}`);
    return c;
  },
  async close(conn, ctx, next) {
    log.push(`x${name}`);
    return next.close(conn, ctx);
  },
});

test("chain runs elements in order, nests, and ends at the tail", async () => {
  const log: string[] = [];
  const inner = chain(order(log, "b"), order(log, "c"));
  const outer = chain(order(log, "a"), inner, order(log, "d"));
  const conn = await outer.request(newRequest("c1"), newCtx());
  assert.equal(conn.id, "c1");
  assert.deepEqual(log, [">a", ">b", ">c", ">d", "<d", "<c", "<b", "<a"]);
  log.length = 0;
  await outer.close(conn, newCtx());
  assert.deepEqual(log, ["xa", "xb", "xc", "xd"]);
});

test("an element without close passes Close through", async () => {
  const seen: string[] = [];
  const s = chain(
    { request: (r, c, n) => n.request(r, c) },
    {
      async close(x, c, n) {
        seen.push(x.id);
        return n.close(x, c);
      },
    },
  );
  await s.close(await s.request(newRequest("z"), newCtx()), newCtx());
  assert.deepEqual(seen, ["z"]);
});

test("metadata is per connection id and gone after close or a failed first request", async () => {
  const K = metaKey<number>("test/count");
  const md = metadataServer();
  let fail = false;
  const counts = new Map<string, number>();
  const s = chain(
    md,
    checkRequest((req, ctx) => {
      const n = (ctx.meta.get(K) ?? 0) + 1;
      ctx.meta.set(K, n);
      counts.set(req.connection!.id, n);
      if (fail) throw new Error("boom");
    }),
  );
  await s.request(newRequest("a"), newCtx());
  await s.request(newRequest("a"), newCtx());
  await s.request(newRequest("b"), newCtx());
  assert.equal(counts.get("a"), 2);
  assert.equal(counts.get("b"), 1, "b must not see a's metadata");
  fail = true;
  await assert.rejects(s.request(newRequest("c"), newCtx()), /boom/);
  assert.equal(md.store.get("c"), undefined, "failed first request leaves no metadata");
  await assert.rejects(s.request(newRequest("a"), newCtx()), /boom/);
  assert.ok(md.store.get("a"), "failed refresh keeps metadata");
  fail = false;
  await s.close(await s.request(newRequest("a"), newCtx()), newCtx());
  assert.equal(md.store.get("a"), undefined);
  assert.equal(md.store.size, 1);
});
