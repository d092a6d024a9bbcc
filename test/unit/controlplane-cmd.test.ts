// The control-plane commands as processes: nsmgr (memory registry), forwarder (null datapath),
// nse-icmp-responder, nsc-init (exits, leaving its connection) and nsc (adopts it, closes on SIGTERM).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { procs, startNode } from "../helpers/nsm-procs.js";

test("nsm nsmgr + forwarder + nse-icmp-responder + nsc-init + nsc as processes", { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "nsm-cmd-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = procs(t);
  const run = p.start;
  const { mgrUrl: nsmgrUrl, mgr, fwd, nse } = await startNode(p, dir, { cidr: "172.16.1.100/31" });

  const init = run("nsc-init", {
    NSM_CONNECT_TO: nsmgrUrl,
    NSM_NAME: "app",
    NSM_NETWORK_SERVICES: "kernel://icmp/nsm-1",
  });
  const ready = JSON.parse(await init.waitFor(/connection ready/)) as { connId: string; ip: string[]; nse: string };
  assert.deepEqual(
    { id: ready.connId, ip: ready.ip, nse: ready.nse },
    { id: "app-0", ip: ["172.16.1.101/32"], nse: "icmp" },
  );
  assert.equal(await init.exited, 0, "nsc-init exits 0 and leaves the connection");

  const nsc = run("nsc", {
    NSM_CONNECT_TO: nsmgrUrl,
    NSM_NAME: "app",
    NSM_NETWORK_SERVICES: "kernel://icmp/nsm-1",
    NSM_LOCAL_DNS_SERVER_ENABLED: "false",
    NSM_LIVENESS_CHECK_ENABLED: "false",
  });
  await nsc.waitFor(/adopting an existing connection/);
  const conn = JSON.parse(await nsc.waitFor(/connected to icmp/)) as { connId: string; ip: string[] };
  assert.deepEqual(conn.ip, ["172.16.1.101/32"], "the adopted connection keeps its addresses");
  nsc.p.kill("SIGTERM");
  assert.equal(await nsc.exited, 0);
  for (const x of [nse, fwd, mgr]) {
    x.p.kill("SIGTERM");
    assert.equal(await x.exited, 0, `${x.p.spawnargs.join(" ")} exits cleanly`);
  }
});

test("bad configuration names the variable and the value", { timeout: 30_000 }, async (t) => {
  const x = procs(t).start("nsc", { NSM_NETWORK_SERVICES: "vpn/if-vpn" });
  assert.equal(await x.exited, 1);
  assert.match(x.lines.join("\n"), /NSM_NETWORK_SERVICES="vpn\/if-vpn": invalid network service URL/);
});
