// createRegistry shares one watch response per change between streams (shareWatchResponses):
// over the wire every watcher still gets its own equal, independent copy, and in-process the
// chain's elements leave what find() yields untouched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, equals, NetworkServiceEndpointResponseSchema, NetworkServiceEndpointSchema } from "../../api/index.js";
import { dial, newCtx, serve } from "../../core/index.js";
import { nseQuery } from "../tools.js";
import { createRegistry } from "./registry.js";

const nse = (name: string) =>
  create(NetworkServiceEndpointSchema, { name, url: "tcp://127.0.0.1:5001", networkServiceNames: ["icmp"] });

test("two watchers over gRPC get equal, independent responses for each change", { timeout: 10_000 }, async (t) => {
  const life = new AbortController();
  const reg = await createRegistry({ signal: life.signal });
  const srv = await serve(["tcp://127.0.0.1:0"], { nseRegistry: reg.nse, nsRegistry: reg.ns });
  const conn = dial(srv.urls[0]!.href);
  const wac = new AbortController();
  t.after(async () => {
    wac.abort();
    conn.close();
    await srv.close();
    await reg.close();
    life.abort();
  });
  const watch = async (n: number) => {
    const got = [];
    for await (const r of conn.nseRegistry.find(nseQuery({}, true), newCtx({ signal: wac.signal }))) {
      got.push(r);
      if (got.length === n) break;
    }
    return got;
  };
  const a = watch(2);
  const b = watch(2);
  await new Promise((r) => setTimeout(r, 100)); // both streams subscribed
  await reg.nse.register(nse("e-1"), newCtx({ timeoutMs: 5000 }));
  await reg.nse.register(nse("e-2"), newCtx({ timeoutMs: 5000 }));
  const [ra, rb] = await Promise.all([a, b]);
  assert.deepEqual(
    ra.map((r) => r.networkServiceEndpoint?.name),
    ["e-1", "e-2"],
  );
  for (let i = 0; i < 2; i++) {
    assert.ok(equals(NetworkServiceEndpointResponseSchema, ra[i]!, rb[i]!), `change ${i}: the same response`);
    assert.notEqual(ra[i], rb[i], "each stream decodes its own copy");
  }
  ra[0]!.networkServiceEndpoint!.url = "tcp://10.0.0.1:1";
  assert.equal(rb[0]!.networkServiceEndpoint!.url, "tcp://127.0.0.1:5001", "editing one leaves the other alone");
});

test(
  "in-process watchers of the chain see a change identically and the store is not edited",
  { timeout: 10_000 },
  async (t) => {
    const life = new AbortController();
    const reg = await createRegistry({ signal: life.signal });
    const wac = new AbortController();
    t.after(async () => {
      wac.abort();
      await reg.close();
      life.abort();
    });
    const first = async () => {
      for await (const r of reg.nse.find(nseQuery({}, true), newCtx({ signal: wac.signal }))) return r;
      throw new Error("watch ended");
    };
    const a = first();
    const b = first();
    await new Promise((r) => setTimeout(r, 20));
    await reg.nse.register(nse("e-1"), newCtx({ timeoutMs: 5000 }));
    const [ra, rb] = await Promise.all([a, b]);
    assert.ok(equals(NetworkServiceEndpointResponseSchema, ra, rb));
    // what a plain Find returns afterwards is the stored entry, unaffected by the watchers' object
    const again = [];
    for await (const r of reg.nse.find(nseQuery({ name: "e-1" }), newCtx({ timeoutMs: 5000 }))) again.push(r);
    assert.equal(again.length, 1);
    assert.ok(equals(NetworkServiceEndpointSchema, again[0]!.networkServiceEndpoint!, ra.networkServiceEndpoint!));
  },
);
