/**
 * Shutdown whatever the peers' state: with their nsmgr SIGKILLed a moment before, the forwarder,
 * an NSE and an NSC (real `nsm` processes in namespaces, src/mesh) each exit within 5 s of
 * SIGTERM, and the forwarder removes its socket. Root only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { rootSkip } from "../../src/datapath/testing/index.js";
import type { MeshProc } from "../../src/mesh/index.js";
import { testMesh } from "../helpers/workloads.js";

/** ms from SIGTERM until the process is gone (bounded: gives up after `ms`). */
async function termTime(p: MeshProc, ms = 10_000): Promise<number> {
  const t0 = Date.now();
  process.kill(p.pid, "SIGTERM");
  while (!p.exited && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 20));
  return p.exited ? Date.now() - t0 : Infinity;
}

test(
  "shutdown: forwarder, NSE and NSC exit within 5 s of SIGTERM after their nsmgr was killed -9",
  { skip: rootSkip, timeout: 90_000 },
  async (t) => {
    const m = await testMesh(t, "nsm-shut-", { nodes: 1 });
    await m.startNse(0, { name: "nse-a", cidr: "172.16.1.100/31" });
    const nsc = await m.startNsc(0, { name: "nsc", services: ["kernel://icmp-responder/nsm-1"] });
    await nsc.waitFor(/connected to/, 30_000);
    const fwd = m.procs.get("forwarder-0")!;
    const sock = join(m.state.dir, "forwarder-0.sock");
    assert.ok(existsSync(sock));

    await m.procs.get("nsmgr-0")!.stop("SIGKILL");
    // the forwarder notices (its registry heal starts retrying the dead nsmgr): the case that hung for minutes
    await new Promise((r) => setTimeout(r, 300));
    const [tf, te, tc] = await Promise.all([fwd, m.procs.get("nse-a")!, nsc].map((p) => termTime(p)));
    t.diagnostic(`exit after SIGTERM: forwarder ${tf} ms, nse ${te} ms, nsc ${tc} ms`);
    assert.ok(tf < 5000, `forwarder took ${tf} ms:\n${fwd.output().slice(-2000)}`);
    assert.ok(te < 5000, `nse took ${te} ms`);
    assert.ok(tc < 5000, `nsc took ${tc} ms:\n${nsc.output().slice(-2000)}`);
    assert.ok(!existsSync(sock), "the forwarder left its socket");
  },
);
