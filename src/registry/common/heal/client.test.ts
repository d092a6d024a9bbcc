import { test } from "node:test";
import assert from "node:assert/strict";
import { create, NetworkServiceEndpointSchema, type NetworkServiceEndpoint } from "../../../api/index.js";
import { newCtx, type NseRegistryServer } from "../../../core/index.js";
import { nseRegistryClientOver } from "../../chains/client.js";
import { createRegistry } from "../../chains/registry.js";

test("heal (registry client): a broken watch re-registers at once; one that keeps breaking backs off", async (t) => {
  const ac = new AbortController();
  const reg = await createRegistry({ signal: ac.signal });
  t.after(async () => {
    ac.abort();
    await reg.close();
  });
  // stands in for the way to the other domain: `@domain` is dropped before the real registry
  const local = (e: NetworkServiceEndpoint) =>
    create(NetworkServiceEndpointSchema, {
      ...e,
      networkServiceNames: e.networkServiceNames.map((n) => n.split("@")[0]!),
    });
  let registered = 0;
  let broken = false;
  const watches: { names: string[]; cut: AbortController }[] = [];
  const via: NseRegistryServer = {
    async register(e, ctx) {
      registered++;
      await reg.nse.register(local(e), ctx);
      return e;
    },
    find(q, ctx) {
      const cut = new AbortController();
      if (broken) cut.abort();
      if (q.watch) watches.push({ names: [...(q.networkServiceEndpoint?.networkServiceNames ?? [])], cut });
      const lq = { ...q, networkServiceEndpoint: q.networkServiceEndpoint && local(q.networkServiceEndpoint) };
      return reg.nse.find(lq, ctx.with({ signal: AbortSignal.any([ctx.signal, cut.signal]) }));
    },
    unregister: (e, ctx) => reg.nse.unregister(local(e), ctx),
  };
  const c = nseRegistryClientOver(via, { signal: ac.signal, refresh: false });
  t.after(() => c.close());
  const nse = create(NetworkServiceEndpointSchema, {
    name: "nse-1",
    url: "tcp://10.0.0.1:5001",
    networkServiceNames: ["svc@d2", "local"],
  });
  await c.register(nse, newCtx({ timeoutMs: 5000 }));
  const end = Date.now() + 5000;
  while (!watches.length && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.equal(registered, 1);
  watches[0]!.cut.abort(); // the nsmgr-proxy on the way restarted
  while (registered < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.equal(registered, 2, "registered again when the watch broke");
  // a way that breaks every watch at once: re-registrations slow down (200, 400, 800 ms …)
  broken = true;
  watches.at(-1)!.cut.abort();
  await new Promise((r) => setTimeout(r, 1600));
  assert.ok(registered - 2 <= 5, `${registered - 2} re-registrations in 1.6 s`);
});
