import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatMapIp, MapIpFile, parseMapIp } from "./mapip.js";

test("map-ip: upstream's flat YAML map parses and round-trips; bad lines are named", () => {
  const m = parseMapIp(
    "# comment\n172.18.0.2: 203.0.113.10\n'fd00::2': \"2001:db8::10\"\n203.0.113.10: 203.0.113.10\n",
  );
  assert.deepEqual(
    [...m],
    [
      ["172.18.0.2", "203.0.113.10"],
      ["fd00::2", "2001:db8::10"],
      ["203.0.113.10", "203.0.113.10"],
    ],
  );
  assert.deepEqual(parseMapIp(formatMapIp(m)), m);
  assert.deepEqual([...parseMapIp("{}\n")], []);
  assert.throws(() => parseMapIp("10.0.0.1: 1.2.3.4\nnonsense\n"), /line 2: "nonsense"/);
  assert.throws(() => parseMapIp("host: 1.2.3.4\n"), /line 1: .*IP addresses/);
});

test("map-ip: the file is re-read when it changes; a broken version keeps the previous map", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "nsm-mapip-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "map.yaml");
  const m = new MapIpFile(path, { pollMs: 20 });
  t.after(() => m.close());
  assert.equal(m.get("10.0.0.1"), "10.0.0.1", "no file: no swap");
  const put = (text: string) => {
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  };
  const waitFor = async (ip: string, want: string) => {
    const end = Date.now() + 5000;
    while (m.get(ip) !== want && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  };
  put("10.0.0.1: 203.0.113.1\n");
  await waitFor("10.0.0.1", "203.0.113.1");
  assert.equal(m.get("10.0.0.1"), "203.0.113.1");
  const v = m.version;
  put("garbage\n");
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(m.version, v, "a broken file is not loaded");
  assert.equal(m.get("10.0.0.1"), "203.0.113.1");
  put("10.0.0.1: 203.0.113.9\n");
  await waitFor("10.0.0.1", "203.0.113.9");
  assert.equal(m.get("10.0.0.1"), "203.0.113.9");
});
