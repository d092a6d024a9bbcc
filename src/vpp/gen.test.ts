// Drift check: src/vpp/gen is what scripts/vpp-gen.mjs makes from the installed VPP's API files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const apiDir = process.env.NSM_VPP_API_JSON_DIR ?? "/opt/vpp/share/vpp/api";
const skip =
  existsSync(apiDir) && existsSync("/opt/vpp/include/vnet/error.h") ? false : `no VPP API definitions at ${apiDir}`;

test("src/vpp/gen matches what scripts/vpp-gen.mjs generates", { skip }, () => {
  const root = new URL("../..", import.meta.url).pathname;
  const r = spawnSync(process.execPath, ["scripts/vpp-gen.mjs", "--check", "--api", apiDir], {
    cwd: root,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, `regenerate with: node scripts/vpp-gen.mjs\n${r.stderr}`);
});
