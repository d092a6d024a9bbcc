/**
 * The kernel datapath backend in-process: nsmgr, forwarder (kernel backend), NSE and NSC as
 * components of this process over unix sockets; the NSC and the NSE live in their own fresh
 * namespaces, named to the forwarder by `file:///run/netns/<name>`. Root only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { kernel } from "../../src/api/index.js";
import type { KernelBackend } from "../../src/forwarder/backends/kernel/index.js";
import { ping, rootSkip, sandbox as dpSandbox } from "../../src/datapath/testing/index.js";
import { harness, kernelForwarder, nsmgr, ours, workloads } from "../helpers/workloads.js";

async function rig(t: import("node:test").TestContext, o: { stateDir?: string; cidr?: string } = {}) {
  const h = harness(dpSandbox(t), "nsm-kl-");
  const mgr = await nsmgr(h);
  const startForwarder = () => kernelForwarder(h, mgr.url, o);
  let fwd = await startForwarder();
  h.sb.cleanup.push("forwarder", () => fwd.stop());
  const w = await workloads(h, { nsmgrUrl: mgr.url, cidr: o.cidr ?? "172.16.1.100/31" });
  return {
    sb: h.sb,
    dir: h.dir,
    nse: w.nse,
    nsc: w.nsc,
    request: w.request,
    close: w.close,
    get backend(): KernelBackend {
      return fwd.backend;
    },
    async restartForwarder() {
      await fwd.f.kill();
      fwd = await startForwarder();
    },
  };
}

test(
  "kernel local: NSC pings NSE over a veth made in both namespaces; Close removes both ends",
  { skip: rootSkip, timeout: 60_000 },
  async (t) => {
    const r = await rig(t);
    const conn = await r.request("nsc-0");
    assert.equal(kernel.ifnameOf(conn), "nsm-1");
    const link = await r.nsc.ns.linkByName("nsm-1");
    assert.equal(link.attrs.up, true);
    assert.equal(link.kind, "veth");
    const addrs = (await r.nsc.ns.addrs({ link: "nsm-1", family: 4 })).map((a) => a.cidr);
    assert.deepEqual(addrs, ["172.16.1.101/32"]);
    const routes = (await r.nsc.ns.routes({ dev: "nsm-1", family: 4 })).map((x) => x.dst);
    assert.ok(routes.includes("172.16.1.100/32"), `routes: ${routes.join(", ")}`);
    assert.deepEqual(await ours(r.nse.ns), [
      (await r.nse.ns.links()).find((l) => l.attrs.alias?.startsWith("nsm:"))!.attrs.name,
    ]);
    await ping(r.nsc.name, "172.16.1.100", 2, 5);
    await ping(r.nse.name, "172.16.1.101", 1, 5);

    // a refresh changes nothing (same link index)
    const again = await r.request("nsc-0");
    assert.equal((await r.nsc.ns.linkByName("nsm-1")).attrs.index, link.attrs.index);
    // the forwarder's path segment carries link figures
    const seg = again.path!.pathSegments.find((s) => s.name === "fwd");
    assert.ok(Number(seg?.metrics["server_rx_packets"]) >= 2, JSON.stringify(seg?.metrics));
    assert.equal(seg?.metrics["server_interface"], "VETH/nsm-1");

    await r.close(again);
    await r.backend.idle();
    assert.deepEqual(await ours(r.nsc.ns), []);
    assert.deepEqual(await ours(r.nse.ns), []);
    assert.equal(r.backend.records.size, 0);
  },
);

test(
  "kernel local: forwarder killed and restarted — the re-request replaces the stale veth; unrequested ones are reconciled away",
  { skip: rootSkip, timeout: 60_000 },
  async (t) => {
    const r = await rig(t, { cidr: "172.16.2.0/28" });
    const c0 = await r.request("nsc-0", "kernel://icmp/nsm-1");
    await r.request("nsc-1", "kernel://icmp/nsm-2");
    const before = (await r.nsc.ns.linkByName("nsm-1")).attrs.index;
    await r.restartForwarder();
    // the control plane re-requests nsc-0 only (as heal would); nsc-1 is abandoned
    await r.request("nsc-0", "kernel://icmp/nsm-1").catch(async () => r.request("nsc-0", "kernel://icmp/nsm-1"));
    const after = await r.nsc.ns.linkByName("nsm-1");
    assert.notEqual(after.attrs.index, before, "the stale interface was replaced");
    await ping(r.nsc.name, c0.context!.ipContext!.dstIpAddrs[0]!.split("/")[0]!, 1, 5);
    assert.equal(await r.backend.reconcile(), 1);
    await r.backend.idle();
    assert.deepEqual((await ours(r.nsc.ns)).sort(), ["nsm-1"]);
    assert.equal((await ours(r.nse.ns)).length, 1);
    assert.equal(readdirSync(join(r.dir, "fwd-state")).length, 1);
  },
);
