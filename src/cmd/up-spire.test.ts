/** nsm up's SPIRE switch: configuration checks and finding spire.sh (the mesh itself is checked by hand, docs/security.md). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findSpire, spireDirOf, stopUpSpire } from "./up-spire.js";
import { readConfig } from "./up.js";

test("NSM_UP_SPIRE: exclusive with NSM_UP_TLS, one domain and icmp only", () => {
  assert.equal(readConfig({ NSM_UP_SPIRE: "true" }).spire, true);
  assert.throws(() => readConfig({ NSM_UP_SPIRE: "true", NSM_UP_TLS: "true" }), /NSM_UP_SPIRE.*exclude each other/);
  assert.throws(() => readConfig({ NSM_UP_SPIRE: "true", NSM_UP_DOMAINS: "2" }), /NSM_UP_SPIRE/);
});

test("findSpire: NSM_SPIRE_DIR first; the SPIRE dir beside the state file; stopping nothing is false", () => {
  const dir = mkdtempSync(join(tmpdir(), "nsm-upspire-"));
  try {
    writeFileSync(join(dir, "spire.sh"), "#!/bin/sh\n", { mode: 0o755 });
    assert.equal(findSpire({ NSM_SPIRE_DIR: dir }), join(dir, "spire.sh"));
    assert.equal(spireDirOf("/run/nsm-ts/mesh.json", "nsm"), "/run/nsm-ts/nsm-spire");
    assert.equal(stopUpSpire(join(dir, "none")), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
