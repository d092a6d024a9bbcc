/**
 * Faults that struck only once the mesh had run for a while (issue 21, items 1 and 9): every
 * server stream without a deadline (a client's heal monitor on nsmgr, a forwarder's registry
 * watch through nsmgr) used to go silent 15 s after it opened. Real processes in namespaces
 * (src/mesh); each test waits past those 15 s before it breaks something. Root only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ping, rootSkip } from "../../src/datapath/testing/index.js";
import { marked, pingUntil, testMesh } from "../helpers/workloads.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PAST_OLD_CUT_MS = 17_000;

test(
  "forwarder killed and restarted 17 s after the client connected: the client heals at once, nothing is swept",
  { skip: rootSkip, timeout: 120_000 },
  async (t) => {
    const m = await testMesh(t, "nsm-late-"); // forwarder stale timeout 5 s
    await m.startNse(1, { name: "nse", cidr: "172.16.1.100/31" });
    const nsc = await m.startNsc(0, { name: "nsc", services: ["kernel://icmp-responder/nsm-1"] });
    await nsc.waitFor(/connected to/, 30_000);
    await ping(nsc.workload, "172.16.1.100", 1, 10);
    await sleep(PAST_OLD_CUT_MS);
    const from = nsc.output().length;
    await m.procs.get("forwarder-0")!.stop("SIGKILL");
    await m.restart("forwarder-0");
    // before: no DOWN ever reached the client; 5 s later the restarted forwarder swept its vxlan
    await nsc.waitFor(/heal: connection lost/, 10_000, from);
    await sleep(6000); // past the stale timeout
    await pingUntil(nsc.workload, "172.16.1.100", 3000);
    assert.deepEqual(await marked(nsc.workload), [{ name: "nsm-1", kind: "vxlan" }]);
  },
);

test(
  "NSE killed and restarted under a new socket 17 s into the mesh: the forwarder dials the new URL",
  { skip: rootSkip, timeout: 120_000 },
  async (t) => {
    const m = await testMesh(t, "nsm-late-");
    const nse = await m.startNse(0, { name: "nse", cidr: "172.16.1.100/31" });
    const nsc = await m.startNsc(0, { name: "nsc", services: ["kernel://icmp-responder/nsm-1"] });
    await nsc.waitFor(/connected to/, 30_000);
    await ping(nsc.workload, "172.16.1.100", 1, 10);
    await sleep(PAST_OLD_CUT_MS);
    await nse.stop("SIGKILL");
    await m.restart("nse", { env: { NSM_LISTEN_ON: `unix://${join(m.state.dir, "nse-2.sock")}` } });
    // before: the forwarder's cache kept the old socket (ECONNREFUSED) and the heal never succeeded
    await pingUntil(nsc.workload, "172.16.1.100", 10_000);
    assert.deepEqual(await marked(nsc.workload), [{ name: "nsm-1", kind: "veth" }]);
  },
);
