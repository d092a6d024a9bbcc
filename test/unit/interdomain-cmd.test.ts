/**
 * The interdomain commands' configuration (bad values name their variable) and `nsm map-ip`
 * writing the map from a mesh's node list and a file, rewritten when an input changes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readConfig as mapIpConfig, startMapIp } from "../../src/cmd/map-ip.js";
import { readConfig as proxyConfig } from "../../src/cmd/nsmgr-proxy.js";
import { readConfig as proxyDnsConfig } from "../../src/cmd/registry-proxy-dns.js";
import { silentLogger } from "../../src/tools/log.js";
import { parseMapIp } from "../../src/tools/mapip.js";

test("interdomain commands: required and bad values are named", () => {
  assert.throws(() => proxyConfig({ NSM_REGISTRY_PROXY_URL: "tcp://1.2.3.4:5005" }), /NSM_REGISTRY_URL/);
  assert.throws(() => proxyConfig({ NSM_REGISTRY_URL: "tcp://1.2.3.4:5002" }), /NSM_REGISTRY_PROXY_URL/);
  const p = proxyConfig({ NSM_REGISTRY_URL: "tcp://1.2.3.4:5002", NSM_REGISTRY_PROXY_URL: "tcp://1.2.3.4:5005" });
  assert.equal(p.name, "nsmgr-proxy");
  assert.equal(p.mapIp, "map-ip.yaml");
  assert.throws(() => proxyDnsConfig({ NSM_DNS_SERVER: "dns.example:53" }), /NSM_DNS_SERVER.*dns\.example:53/);
  assert.equal(proxyDnsConfig({ NSM_DNS_SERVER: "10.0.0.53:5353" }).dnsServer, "10.0.0.53:5353");
  assert.throws(() => mapIpConfig({}), /NSM_FROM_FILE/);
  assert.throws(() => mapIpConfig({ NSM_FROM_FILE: "x", NSM_EXTERNAL_IP: "nope" }), /NSM_EXTERNAL_IP.*nope/);
});

test("nsm map-ip: node list and file become one map, rewritten when an input changes", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "nsm-mapipcmd-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, "mesh.json");
  const from = join(dir, "extra.yaml");
  const out = join(dir, "out", "map.yaml");
  writeFileSync(state, JSON.stringify({ nodes: [{ ip: "198.18.1.1" }, { ip: "198.18.1.2" }] }));
  writeFileSync(from, "10.0.0.5: 203.0.113.5\n");
  const cfg = mapIpConfig({
    NSM_MESH_STATE: state,
    NSM_FROM_FILE: from,
    NSM_OUTPUT_PATH: out,
    NSM_EXTERNAL_IP: "203.0.113.1",
  });
  const m = startMapIp(cfg, silentLogger);
  t.after(() => m.stop());
  await m.written;
  assert.deepEqual(Object.fromEntries(parseMapIp(readFileSync(out, "utf8"))), {
    "198.18.1.1": "203.0.113.1",
    "198.18.1.2": "203.0.113.1",
    "203.0.113.1": "203.0.113.1",
    "10.0.0.5": "203.0.113.5",
  });
  writeFileSync(from, "10.0.0.5: 203.0.113.6\n");
  const end = Date.now() + 5000;
  while (!readFileSync(out, "utf8").includes("203.0.113.6") && Date.now() < end)
    await new Promise((r) => setTimeout(r, 25));
  assert.equal(parseMapIp(readFileSync(out, "utf8")).get("10.0.0.5"), "203.0.113.6");
});
