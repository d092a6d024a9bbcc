/**
 * The interdomain DNS resolver against a real dnsmasq on loopback (random high port): SRV + A of
 * `<service>.<domain>`, literal ip:port domains, NXDOMAIN, SRV without A, a server that never
 * answers, and the TTL cache. Skips when dnsmasq is not installed (scripts/setup.sh installs it).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDnsmasq } from "../../mesh/dnsmasq.js";
import { DnsResolver, NSMGR_PROXY_SERVICE, REGISTRY_SERVICE, literalDomainUrl } from "./resolver.js";
import { NsmError, status } from "../errors.js";

const hasDnsmasq = (() => {
  try {
    execFileSync("sh", ["-c", "command -v dnsmasq || test -x /usr/sbin/dnsmasq"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
const skip = hasDnsmasq ? false : "dnsmasq is not installed (npm run setup installs it)";

test("dns: literal ip:port domains need no DNS", () => {
  assert.equal(literalDomainUrl("10.0.0.1:5002"), "tcp://10.0.0.1:5002");
  assert.equal(literalDomainUrl("tcp://[fd00::1]:5002"), "tcp://[fd00::1]:5002");
  assert.equal(literalDomainUrl("cluster2.test"), undefined);
  assert.equal(literalDomainUrl("10.0.0.1"), undefined);
});

test(
  "dns: SRV + A through dnsmasq; NXDOMAIN, SRV without A and a silent server fail naming the domain and name",
  { skip, timeout: 30_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "nsm-dns-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const port = 20000 + Math.floor(Math.random() * 40000);
    const d = startDnsmasq({
      dir,
      listen: "127.0.0.1",
      port,
      zones: ["test"],
      ttl: 1,
      records: [
        { name: `${REGISTRY_SERVICE}.b.test`, ip: "198.18.2.254", port: 5002 },
        { name: `${NSMGR_PROXY_SERVICE}.b.test`, ip: "198.18.2.254", port: 5004 },
        { name: `${REGISTRY_SERVICE}.noaddr.test`, port: 5002 },
      ],
    });
    t.after(() => d.stop());
    const dns = new DnsResolver({ server: d.server, timeoutMs: 500 });
    // wait for dnsmasq to answer
    const end = Date.now() + 5000;
    for (;;) {
      try {
        await dns.query(`${REGISTRY_SERVICE}.b.test`, "A", "b.test");
        break;
      } catch (e) {
        if (Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.equal(await dns.resolve(REGISTRY_SERVICE, "b.test"), "tcp://198.18.2.254:5002");
    assert.equal(await dns.resolve(NSMGR_PROXY_SERVICE, "b.test"), "tcp://198.18.2.254:5004");
    assert.equal(await dns.resolve(REGISTRY_SERVICE, "10.1.2.3:7000"), "tcp://10.1.2.3:7000");

    await assert.rejects(dns.resolve(REGISTRY_SERVICE, "nowhere.test"), (e: NsmError) => {
      assert.equal(e.code, status.NOT_FOUND);
      assert.match(e.message, /domain nowhere\.test: registry\.nsm-system\.nowhere\.test does not exist \(NXDOMAIN/);
      return true;
    });
    await assert.rejects(dns.resolve(REGISTRY_SERVICE, "noaddr.test"), (e: NsmError) => {
      assert.equal(e.code, status.NOT_FOUND);
      assert.match(
        e.message,
        /domain noaddr\.test: SRV registry\.nsm-system\.noaddr\.test has port 5002 but no A\/AAAA/,
      );
      return true;
    });
    await assert.rejects(dns.resolve(REGISTRY_SERVICE, ""), /domain cannot be empty/);

    // answers are cached for their TTL: with dnsmasq gone, the cached name still resolves, others do not
    await d.stop();
    assert.equal(await dns.resolve(REGISTRY_SERVICE, "b.test"), "tcp://198.18.2.254:5002");

    // a server that never answers: UNAVAILABLE naming the domain, the name and the server
    const silent = dgram.createSocket("udp4");
    await new Promise<void>((r) => silent.bind(0, "127.0.0.1", () => r()));
    t.after(() => silent.close());
    const quiet = new DnsResolver({ server: `127.0.0.1:${silent.address().port}`, timeoutMs: 200, attempts: 2 });
    await assert.rejects(quiet.resolve(REGISTRY_SERVICE, "b.test"), (e: NsmError) => {
      assert.equal(e.code, status.UNAVAILABLE);
      assert.match(
        e.message,
        /domain b\.test: SRV registry\.nsm-system\.b\.test: no answer from DNS server 127\.0\.0\.1:\d+/,
      );
      return true;
    });
  },
);
