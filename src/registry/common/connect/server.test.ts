import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, NetworkServiceEndpointSchema } from "../../../api/index.js";
import { newCtx, nseChain, serve } from "../../../core/index.js";
import { createRegistry } from "../../chains/registry.js";
import { REGISTRY_URL } from "../../keys.js";
import { nseQuery, NSE, readList } from "../../tools.js";
import { connectRegistryServer } from "./server.js";

test("registry connect: each call goes to the registry the context names, over one channel per URL", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "nsm-rconn-"));
  const ac = new AbortController();
  const regs = await Promise.all([createRegistry({ signal: ac.signal }), createRegistry({ signal: ac.signal })]);
  const srvs = await Promise.all(
    regs.map((r, i) => serve([`unix://${join(dir, `r${i}.sock`)}`], { nseRegistry: r.nse, nsRegistry: r.ns })),
  );
  const c = connectRegistryServer({ dialTimeoutMs: 2000 });
  t.after(async () => {
    c.close();
    for (const s of srvs) await s.close();
    for (const r of regs) await r.close();
    ac.abort();
    rmSync(dir, { recursive: true, force: true });
  });
  const chainTo = nseChain(c.nse);
  const ctx = (i: number) => newCtx({ timeoutMs: 5000 }).withValue(REGISTRY_URL, srvs[i]!.urls[0]!.href);
  const e = create(NetworkServiceEndpointSchema, {
    name: "nse-1",
    url: "tcp://10.0.0.1:5001",
    networkServiceNames: ["s"],
  });
  await chainTo.register(e, ctx(1));
  assert.equal((await readList(regs[0]!.nse.find(nseQuery({}), newCtx()), NSE.itemOf)).length, 0);
  assert.deepEqual(
    (await readList(chainTo.find(nseQuery({}), ctx(1)), NSE.itemOf)).map((x) => x.name),
    ["nse-1"],
  );
  await chainTo.unregister(e, ctx(1));
  assert.equal((await readList(regs[1]!.nse.find(nseQuery({}), newCtx()), NSE.itemOf)).length, 0);
  await assert.rejects(chainTo.register(e, newCtx()), /no registry URL in the context/);
});
