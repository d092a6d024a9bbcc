import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findOpa, loadPolicies } from "./index.js";

const opa = findOpa();
const skip = opa ? false : "no opa CLI (scripts/setup.sh installs it from ../shared/opa)";
if (skip) console.log(`# skip opa tests: ${skip}`);

test(
  "custom Rego policies: compiled by opa, evaluated with opa-wasm, JWT builtins available",
  { skip, timeout: 60_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "nsm-rego-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, "only_nse_a.rego"),
      // upstream's policies are Rego v0 (opa 0.x syntax)
      `package nsm
default valid = false
valid { input.resource_id == "spiffe://nsm.test/nse-a" }
`,
    );
    writeFileSync(
      join(dir, "sub_is_caller.rego"),
      `package nsm
default valid = false
valid {
  [_, payload, _] := io.jwt.decode(input.path_segments[0].token)
  payload.sub == input.spiffe_id
}
`,
    );
    const [a, b] = await loadPolicies("NSM_REGISTRY_SERVER_POLICIES", [
      `${dir}/.*\\.rego`,
      "etc/nsm/opa/common/.*.rego",
    ]);
    assert.equal(a!.name, "only_nse_a");
    assert.equal(await a!.evaluate({ resource_id: "spiffe://nsm.test/nse-a" }), true);
    assert.equal(await a!.evaluate({ resource_id: "spiffe://nsm.test/nse-b" }), false);
    const jwt = (sub: string) =>
      `${Buffer.from('{"alg":"ES256"}').toString("base64url")}.${Buffer.from(JSON.stringify({ sub })).toString("base64url")}.sig`;
    assert.equal(
      await b!.evaluate({ spiffe_id: "spiffe://x/a", path_segments: [{ token: jwt("spiffe://x/a") }] }),
      true,
    );
    assert.equal(
      await b!.evaluate({ spiffe_id: "spiffe://x/a", path_segments: [{ token: jwt("spiffe://x/b") }] }),
      false,
    );
  },
);

test(
  "a configured policy that cannot be loaded refuses to start, naming the variable and file",
  { skip, timeout: 60_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "nsm-rego-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "broken.rego"), "package nsm\nvalid {\n");
    await assert.rejects(
      loadPolicies("NSM_REGISTRY_SERVER_POLICIES", [join(dir, "broken.rego")]),
      /NSM_REGISTRY_SERVER_POLICIES=".*broken.rego": cannot load the policy: .*rego_parse_error/,
    );
    await assert.rejects(loadPolicies("NSM_REGISTRY_SERVER_POLICIES", [join(dir, "none.rego")]), /names no .rego file/);
    await assert.rejects(
      loadPolicies("NSM_REGISTRY_SERVER_POLICIES", [join(dir, "broken.rego")], { PATH: "", OPA_BINARY: "" }),
      /need the opa CLI|cannot load/,
    );
  },
);
