/** registry client authorize over real gRPC with mTLS: the path a registry answers is checked. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, NetworkServiceEndpointSchema } from "../../../api/index.js";
import { dial, INCOMING, newCtx, nseChain, serve, status, type NsmError } from "../../../core/index.js";
import { issuerSource, newTrustDomain } from "../../../tools/spiffe/index.js";
import { newTokenGenerator } from "../../../tools/token/index.js";
import { pathTokensRemote } from "../updatepath/remote.js";
import { updatePathNseServer } from "../updatepath/server.js";
import { authorizeRegistryClient } from "./client.js";

const denied = (rule: string) => (e: NsmError) =>
  e.code === status.PERMISSION_DENIED && e.message.includes(`authorization policy check: ${rule}:`);

test("registry client authorize: a registry's answer with a token of another signer is refused and unregistered", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "nsm-regauthz-c-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const td = newTrustDomain("nsm.test");
  const regId = issuerSource(td, "spiffe://nsm.test/registry");
  const nseId = issuerSource(td, "spiffe://nsm.test/nse");
  const honest = newTokenGenerator({ name: "registry", source: regId });
  // a registry that signs its segment with a key of its own, not its SVID's
  const forged = newTokenGenerator({ name: "registry", subject: "spiffe://nsm.test/registry" });
  let useForged = false;
  const stored = new Set<string>();
  const reg = nseChain(updatePathNseServer({ tokens: () => (useForged ? forged : honest) }), {
    register: async (e, ctx) => {
      assert.ok(ctx.get(INCOMING));
      stored.add(e.name);
      return e;
    },
    unregister: async (e) => void stored.delete(e.name),
  });
  const srv = await serve([`unix://${join(dir, "reg.sock")}`], { nseRegistry: reg }, { identity: regId });
  const conn = dial(srv.urls[0]!, { identity: nseId });
  t.after(async () => {
    conn.close();
    await srv.close();
    regId.close();
    nseId.close();
  });
  const client = pathTokensRemote(
    conn.nseRegistry,
    conn,
    () => newTokenGenerator({ name: "nse", source: nseId }),
    authorizeRegistryClient(),
  );
  const nse = (name: string) =>
    create(NetworkServiceEndpointSchema, { name, networkServiceNames: ["icmp"], url: "tcp://1.2.3.4:5" });
  const ok = await client.register(nse("nse-1"), newCtx({ timeoutMs: 5000 }));
  assert.deepEqual(ok.pathIds, ["spiffe://nsm.test/nse", "spiffe://nsm.test/registry"]);
  useForged = true;
  await assert.rejects(client.register(nse("nse-2"), newCtx({ timeoutMs: 5000 })), denied("next_token_signed"));
  assert.deepEqual([...stored], ["nse-1"], "the refused registration was unregistered");
});
