/** registry authorize over real gRPC with mTLS: the NSE owner rule and custom Rego policies. */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, NetworkServiceEndpointSchema } from "../../../api/index.js";
import { dial, newCtx, serve, status, type NsmError } from "../../../core/index.js";
import { findOpa, loadPolicies, type RegoPolicy } from "../../../tools/opa/index.js";
import { issuerSource, newTrustDomain } from "../../../tools/spiffe/index.js";
import { createRegistry } from "../../chains/registry.js";

const rule = (name: string) => (e: NsmError) =>
  e.code === status.PERMISSION_DENIED && e.message.includes(`authorization policy check: ${name}:`);
const ctx = () => newCtx({ timeoutMs: 5000 });

/** a registry served with mTLS, and two NSEs' connections to it */
async function setup(t: TestContext, policies: RegoPolicy[] = []) {
  const dir = mkdtempSync(join(tmpdir(), "nsm-authz-reg-"));
  const life = new AbortController();
  t.after(() => {
    life.abort();
    rmSync(dir, { recursive: true, force: true });
  });
  const td = newTrustDomain("nsm.test");
  const reg = await createRegistry({ signal: life.signal, authorize: true, policies });
  t.after(() => reg.close());
  const srv = await serve(
    [`unix://${join(dir, "reg.sock")}`],
    { nseRegistry: reg.nse, nsRegistry: reg.ns },
    { identity: issuerSource(td, "spiffe://nsm.test/registry") },
  );
  t.after(() => srv.close());
  const a = dial(srv.urls[0]!, { identity: issuerSource(td, "spiffe://nsm.test/nse-a") });
  const b = dial(srv.urls[0]!, { identity: issuerSource(td, "spiffe://nsm.test/nse-b") });
  t.after(() => {
    a.close();
    b.close();
  });
  return { a, b, dir };
}

test(
  "registry authorize: only the identity that registered an NSE unregisters or replaces it",
  { timeout: 20_000 },
  async (t) => {
    const { a, b } = await setup(t);
    const nse = create(NetworkServiceEndpointSchema, {
      name: "nse-a",
      url: "tcp://127.0.0.1:5000",
      networkServiceNames: ["ns"],
    });
    await a.nseRegistry.register(nse, ctx());
    await assert.rejects(b.nseRegistry.unregister(nse, ctx()), rule("registry_client_allowed"));
    await assert.rejects(
      b.nseRegistry.register({ ...nse, url: "tcp://127.0.0.1:6666" }, ctx()),
      rule("registry_client_allowed"),
    );
    const found = [];
    const q = {
      $typeName: "registry.NetworkServiceEndpointQuery",
      networkServiceEndpoint: create(NetworkServiceEndpointSchema, { name: "nse-a" }),
      watch: false,
    } as const;
    for await (const r of a.nseRegistry.find(q, ctx())) found.push(r.networkServiceEndpoint!.url);
    assert.deepEqual(found, ["tcp://127.0.0.1:5000"], "nothing changed");
    await a.nseRegistry.unregister(nse, ctx());
  },
);

const opa = findOpa();
test(
  "registry authorize: a custom Rego policy (NSM_REGISTRY_SERVER_POLICIES) refuses by its name",
  { skip: opa ? false : "no opa CLI (scripts/setup.sh installs it from ../shared/opa)", timeout: 60_000 },
  async (t) => {
    const rego = mkdtempSync(join(tmpdir(), "nsm-authz-rego-"));
    t.after(() => rmSync(rego, { recursive: true, force: true }));
    writeFileSync(
      join(rego, "only_nse_a.rego"),
      'package nsm\ndefault valid = false\nvalid { input.resource_id == "spiffe://nsm.test/nse-a" }\n',
    );
    const policies = await loadPolicies("NSM_REGISTRY_SERVER_POLICIES", [join(rego, "only_nse_a.rego")]);
    const { a, b } = await setup(t, policies);
    const mk = (name: string) => create(NetworkServiceEndpointSchema, { name, url: "tcp://127.0.0.1:5000" });
    await a.nseRegistry.register(mk("nse-a"), ctx());
    await assert.rejects(b.nseRegistry.register(mk("nse-b"), ctx()), rule("only_nse_a"));
  },
);
