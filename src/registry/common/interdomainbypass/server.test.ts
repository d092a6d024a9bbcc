import { test } from "node:test";
import assert from "node:assert/strict";
import { create, NetworkServiceEndpointSchema } from "../../../api/index.js";
import { newCtx, nseChain, registryConnectTo } from "../../../core/index.js";
import { createRegistry } from "../../chains/registry.js";
import { nseQuery, NSE, readList } from "../../tools.js";
import { interdomainBypassNseServer } from "./server.js";

const OWN = "tcp://10.0.1.254:5004";

test("interdomainbypass (registry): registrations and results are advertised with our URL; where they are is remembered", async (t) => {
  const ac = new AbortController();
  const reg = await createRegistry({ signal: ac.signal });
  t.after(async () => {
    await reg.close();
    ac.abort();
  });
  const bypass = interdomainBypassNseServer(OWN);
  const c = nseChain(bypass, registryConnectTo(reg.nse));

  const mine = create(NetworkServiceEndpointSchema, {
    name: "nse-1",
    url: "tcp://10.0.1.1:5001",
    networkServiceNames: ["s"],
  });
  const back = await c.register(mine, newCtx());
  assert.equal(back.url, "tcp://10.0.1.1:5001", "the caller gets its own URL back");
  const stored = await readList(reg.nse.find(nseQuery({ name: "nse-1" }), newCtx()), NSE.itemOf);
  assert.equal(stored[0]!.url, OWN, "stored with our URL");
  assert.equal(bypass.urls.get("nse-1"), "tcp://10.0.1.1:5001");

  // a result from elsewhere (another nsmgr-proxy's URL) is remembered and handed on with ours
  await reg.nse.register(
    create(NetworkServiceEndpointSchema, { name: "far", url: "tcp://10.0.2.254:5004", networkServiceNames: ["s"] }),
    newCtx(),
  );
  const found = await readList(c.find(nseQuery({ name: "far" }), newCtx()), NSE.itemOf);
  assert.deepEqual(
    found.map((e) => e.url),
    [OWN],
  );
  assert.equal(bypass.urls.get("far"), "tcp://10.0.2.254:5004");
  // results that are ourselves are not remembered (no loop to ourselves)
  await readList(c.find(nseQuery({ name: "nse-1" }), newCtx()), NSE.itemOf);
  assert.equal(bypass.urls.get("nse-1"), "tcp://10.0.1.1:5001");

  await c.unregister(back, newCtx());
  assert.equal(bypass.urls.has("nse-1"), false);
  assert.equal((await readList(reg.nse.find(nseQuery({ name: "nse-1" }), newCtx()), NSE.itemOf)).length, 0);
});
