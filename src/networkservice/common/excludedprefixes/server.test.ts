import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chain } from "../../../core/index.js";
import { newRequest, testCtx } from "../../../core/testing/index.js";
import { point2PointIpamServer } from "../ipam/point2pointipam/server.js";
import { excludedPrefixesServer, parsePrefixesFile } from "./server.js";

test("parses what exclude-prefixes writes (block list, flow list, key in any case)", () => {
  assert.deepEqual(parsePrefixesFile("Prefixes:\n  - 10.96.0.0/12\n  - '10.244.0.0/16'\n"), [
    "10.96.0.0/12",
    "10.244.0.0/16",
  ]);
  assert.deepEqual(parsePrefixesFile("prefixes: [172.16.1.201/32, 172.16.1.202/32]\n"), [
    "172.16.1.201/32",
    "172.16.1.202/32",
  ]);
  assert.deepEqual(parsePrefixesFile("other:\n  - 1.2.3.4/32\n"), []);
  assert.deepEqual(parsePrefixesFile(""), []);
});

test("the file's prefixes reach the IPAM; after a rewrite a refresh moves off the newly excluded pair", async (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  const dir = mkdtempSync(join(tmpdir(), "nsm-excl-"));
  const file = join(dir, "excluded_prefixes.yaml");
  const ac = new AbortController();
  try {
    writeFileSync(file, "Prefixes:\n- 172.16.1.0/31\n");
    const s = chain(
      excludedPrefixesServer({ file, signal: ac.signal, pollMs: 20 }),
      point2PointIpamServer(["172.16.1.0/29"]),
    );
    const ctx1 = testCtx({ timeoutMs: 10_000 }); // one connection's metadata across its refreshes
    const c1 = await s.request(newRequest("c1"), ctx1);
    assert.deepEqual(
      [c1.context!.ipContext!.dstIpAddrs, c1.context!.ipContext!.srcIpAddrs],
      [["172.16.1.2/32"], ["172.16.1.3/32"]],
    );
    writeFileSync(file, "Prefixes:\n- 172.16.1.2/31\n");
    // same size as before and within the same timestamp tick: a stat-based watch misses it
    t.mock.timers.tick(20);
    const again = newRequest("c1");
    again.connection = c1;
    const dst = (await s.request(again, ctx1)).context!.ipContext!.dstIpAddrs;
    assert.deepEqual(dst, ["172.16.1.0/32"]);
  } finally {
    ac.abort();
    rmSync(dir, { recursive: true, force: true });
  }
});
