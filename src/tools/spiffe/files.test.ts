import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileSource } from "./files.js";
import { newTrustDomain } from "./issuer.js";

test(
  "file SVIDs: loaded at start, reloaded when the files change, a bad set refused with the paths named",
  { timeout: 10_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "nsm-svid-files-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const td = newTrustDomain("nsm.test");
    const p = { cert: join(dir, "svid.pem"), key: join(dir, "svid_key.pem"), bundle: join(dir, "bundle.pem") };
    const write = (id: string) => {
      const s = td.issue(id, 60_000);
      // written aside then renamed, as spiffe-helper does
      for (const [f, text] of [
        [p.key, s.keyPem],
        [p.cert, s.certPem],
        [p.bundle, td.bundlePem],
      ] as const) {
        writeFileSync(`${f}.tmp`, text);
        renameSync(`${f}.tmp`, f);
      }
      return s;
    };
    write("spiffe://nsm.test/a");
    const src = fileSource(p);
    t.after(() => src.close());
    assert.equal(src.svid().id, "spiffe://nsm.test/a");
    const changed = new Promise<void>((res) => src.onChange(() => src.svid().id.endsWith("/b") && res()));
    const b = write("spiffe://nsm.test/b");
    const keepAlive = setInterval(() => {}, 1000); // the watchers do not hold the process
    await changed;
    clearInterval(keepAlive);
    assert.equal(src.svid().chain[0]!.serialNumber, b.chain[0]!.serialNumber);
    assert.throws(() => fileSource({ ...p, key: join(dir, "missing.pem") }), /cannot load the SVID from .*missing.pem/);
  },
);
