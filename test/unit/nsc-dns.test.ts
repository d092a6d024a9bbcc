// The nsc's local DNS proxy as a process: it rewrites the resolv.conf it is given, answers on UDP
// and TCP at its address, and puts the file back on SIGTERM; a proxy that cannot listen leaves
// the file alone and the nsc runs on. Loopback, high ports, a temp resolv.conf only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { procs } from "../helpers/nsm-procs.js";
import { query, RCODE, rcodeOf } from "../../src/tools/dns/wire.js";

const freePort = () =>
  new Promise<number>((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });

test("nsc DNS proxy: resolv.conf rewritten and restored, UDP and TCP answered; a taken port is survived", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "nsm-nscdns-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rc = join(dir, "resolv.conf");
  const orig = "nameserver 192.0.2.53\nsearch example.test\noptions ndots:5\n";
  writeFileSync(rc, orig);
  const port = await freePort();
  const p = procs(t);
  const env = {
    NSM_NETWORK_SERVICES: "kernel://vl3/nsm-1",
    NSM_CONNECT_TO: `unix://${join(dir, "no-nsmgr.sock")}`,
    NSM_LOCAL_DNS_SERVER_ENABLED: "true",
    NSM_LOCAL_DNS_SERVER_ADDRESS: `127.0.0.1:${port}`,
    NSM_RESOLV_CONF: rc,
    NSM_LIVENESS_CHECK_ENABLED: "false",
  };
  const nsc = p.start("nsc", env);
  await nsc.waitFor(/local DNS proxy serving/, 20_000);
  assert.equal(
    readFileSync(rc, "utf8"),
    "#nameserver 192.0.2.53\n#search example.test\n#options ndots:5\n\nnameserver 127.0.0.1\noptions ndots:5\n",
  );
  for (const proto of ["udp", "tcp"]) {
    // no connection yet and the original server is unreachable: an answer all the same (SERVFAIL)
    const r = await query(
      `${proto}://127.0.0.1:${port}`,
      { type: "query", id: 7, questions: [{ type: "A", name: "x.vl3" }] },
      15_000,
    );
    assert.equal(rcodeOf(r), RCODE.SERVFAIL, proto);
  }
  // a second nsc cannot take the port: it says so, leaves the file alone and goes on
  const before = readFileSync(rc, "utf8");
  const second = p.start("nsc", { ...env, NSM_NAME: "second" });
  await second.waitFor(/local DNS proxy not started/, 20_000);
  assert.equal(readFileSync(rc, "utf8"), before);
  assert.equal(await second.exitWithin(300), "running");
  await second.stop("SIGTERM");
  await nsc.stop("SIGTERM");
  assert.equal(readFileSync(rc, "utf8"), orig, "restored on exit");
});
