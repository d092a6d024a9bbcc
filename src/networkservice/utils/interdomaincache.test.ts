import { test } from "node:test";
import assert from "node:assert/strict";
import { create, NetworkServiceEndpointSchema } from "../../api/index.js";
import { newCtx, type NseRegistryServer } from "../../core/index.js";
import { createRegistry } from "../../registry/chains/registry.js";
import { nseQuery, NSE, readList } from "../../registry/tools.js";
import { interdomainCache } from "./interdomaincache.js";

const nse = (name: string, url = "tcp://10.0.1.254:5004") =>
  create(NetworkServiceEndpointSchema, { name, url, networkServiceNames: ["s"] });

async function until(ok: () => boolean, what: string) {
  const end = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("interdomain cache: a live answer is kept and kept current by a watch; clear, a broken watch and uncacheable entries make lookups live again", async (t) => {
  const ac = new AbortController();
  const reg = await createRegistry({ signal: ac.signal });
  t.after(async () => {
    ac.abort();
    await reg.close();
  });
  // the real registry; only the non-watch Finds are counted (and a switch to end the watches)
  let live = 0;
  const cut = new Set<AbortController>();
  const server: Pick<NseRegistryServer, "find"> = {
    find(q, ctx) {
      if (!q.watch) {
        live++;
        return reg.nse.find(q, ctx);
      }
      const w = new AbortController();
      cut.add(w);
      return reg.nse.find(q, ctx.with({ signal: AbortSignal.any([ctx.signal, w.signal]) }));
    },
  };
  const cache = interdomainCache(NSE, server, {
    signal: ac.signal,
    remote: (q) => q.networkServiceNames.includes("s"),
    cacheable: (e) => !e.url.startsWith("inode:"),
  });
  const names = async () => {
    const it = cache.find(nseQuery({ networkServiceNames: ["s"] }), newCtx());
    assert.ok(it, "an interdomain query is cached");
    return (await readList(it, NSE.itemOf)).map((e) => e.name).sort();
  };
  assert.equal(cache.find(nseQuery({ networkServiceNames: ["local"] }), newCtx()), undefined, "others are not");

  await reg.nse.register(nse("a"), newCtx());
  assert.deepEqual(await names(), ["a"]);
  assert.equal(live, 1);
  assert.deepEqual(await names(), ["a"]);
  assert.equal(live, 1, "the second lookup comes from the cache");

  // the watch brings new entries and deletions
  await reg.nse.register(nse("b"), newCtx());
  await until(() => live === 1 && cache.size === 1, "cache kept");
  let got: string[] = [];
  for (const end = Date.now() + 5000; Date.now() < end && got.length !== 2;) got = await names();
  assert.deepEqual(got, ["a", "b"]);
  await reg.nse.unregister(nse("b"), newCtx());
  for (const end = Date.now() + 5000; Date.now() < end && got.length !== 1;) got = await names();
  assert.deepEqual(got, ["a"]);
  assert.equal(live, 1, "all of that without a live Find");

  // clear (discover's resync): the next lookup is live
  assert.equal(cache.clear(), 1);
  assert.deepEqual(await names(), ["a"]);
  assert.equal(live, 2);

  // the watch breaks (something on the way restarted): dropped, the next lookup is live
  for (const w of cut) w.abort();
  await until(() => cache.size === 0, "entry dropped with its watch");
  assert.deepEqual(await names(), ["a"]);
  assert.equal(live, 3);

  // an answer with an inode:// URL (fd-bound) is not kept
  cache.clear();
  await reg.nse.register(nse("c", "inode://4/1234"), newCtx());
  await names();
  await names();
  assert.equal(live, 5);
  assert.equal(cache.size, 0);
});
