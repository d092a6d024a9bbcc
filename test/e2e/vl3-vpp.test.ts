/**
 * vL3 with the VPP datapath (NSM_VL3_DATAPATH=vpp, upstream cmd-nse-vl3-vpp): an IPAM service, a
 * vL3 endpoint on each of 2 nodes, each routing in a VPP of its own; 4 clients (2 per node, kernel
 * forwarders) running their DNS proxy. Every client reaches every other by address and by DNS
 * name (the endpoints' DNS servers are reached through their VPP); one endpoint is killed (its
 * VPP dies with it; its VPP run directory, left behind, is removed as stale while the live
 * one's stays), its clients heal to the other one, and everyone reaches everyone again.
 * The forwarders carry IP payload between nodes over VXLAN (NSM_REMOTE_MECHANISMS), as
 * docs/vl3.md advises for this datapath; TCP between clients on different nodes is checked with
 * iperf3. Root and VPP (/opt/vpp) only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { promisify } from "node:util";
import { VPP_RUN_DIR_PREFIX } from "../../src/networkservice/components/vl3-vpp.js";
import { vppPrefixOf } from "../../src/vpp/launch.js";
import { removeStaleVppRunDirs } from "../../src/vpp/rundir.js";
import { iperf3 } from "../helpers/iperf.js";
import { addressOf, clientsOf, everyoneReachesEveryone, fourClients } from "../helpers/vl3.js";
import { vppSkip } from "../helpers/vpp.js";
import { testMesh } from "../helpers/workloads.js";

const run = promisify(execFile);

test(
  "vl3 vpp: 2 VPP endpoints on 2 nodes, 4 clients reach each other by address and DNS name; an endpoint dies, its clients heal",
  { skip: vppSkip, timeout: 170_000 },
  async (t) => {
    const m = await testMesh(t, "nsm-vl3vpp-", {
      nodes: 2,
      envFor: (name) => (name.startsWith("forwarder-") ? { NSM_REMOTE_MECHANISMS: "VXLAN,WIREGUARD" } : undefined),
    });
    const ipam = await m.startIpam({ prefix: "172.16.0.0/16", clientPrefixLen: 24 });
    const env = { NSM_VL3_DATAPATH: "vpp" };
    const a = await m.startVl3Nse(0, { name: "vl3-a", prefixServerUrl: ipam.url, env });
    const b = await m.startVl3Nse(1, { name: "vl3-b", prefixServerUrl: ipam.url, env });
    await b.waitFor(/linked to peer vl3-a/, 30_000);
    await b.waitFor(/vl3 vpp: interface attached/, 10_000);
    // the peer link is a vxlan device: VPP reads it in Ethernet mode, with vnet headers
    assert.match(b.output(), /"ifname":"vl3p0"[^\n]*"mode":"ethernet"[^\n]*interface attached/);
    // the routing is VPP's: the kernel of the endpoint's namespace forwards nothing
    const { stdout: fwd } = await run("ip", ["netns", "exec", a.workload, "cat", "/proc/sys/net/ipv4/ip_forward"]);
    assert.equal(fwd.trim(), "0");
    const { cs, addr } = await fourClients(m);
    const t0 = Date.now();
    await everyoneReachesEveryone(cs, addr, 20_000);
    t.diagnostic(`all 12 pairs by address and name in ${Date.now() - t0} ms`);

    // TCP between nodes: a client's GSO packets go veth → VPP → vxlan (both with vnet headers; the
    // kernel's vxlan segments them). Over a wireguard-go tun it crawled at ~0.0002 Gbit/s.
    const [c0, c2] = [cs[0]!, cs[2]!];
    const vppErrors = async () =>
      (
        await Promise.all(
          [a, b].map(async (e) => {
            const d = /"dir":"([^"]+)"/.exec(e.output())?.[1];
            if (!d) return "";
            const r = await run("/opt/vpp/bin/vppctl", ["-s", `${d}/cli.sock`, "show", "errors"]).catch(
              (x: unknown) => ({ stdout: String(x) }),
            );
            return `${e.name}:\n${r.stdout}`;
          }),
        )
      ).join("\n");
    // no connection came over a wireguard-go tun (the router warns for every L3 device)
    assert.doesNotMatch(a.output() + b.output(), /L3 device/);
    // both ways: which hop is veth → VPP → tunnel depends on where the clients landed
    for (const [x, y] of [
      [c0, c2],
      [c2, c0],
    ] as const) {
      const gbps = await iperf3(x.workload, y.workload, addr.get(y.name)!, 1, vppErrors);
      t.diagnostic(`iperf3 TCP ${x.name} → ${y.name} (other node): ${gbps.toFixed(3)} Gbit/s`);
      assert.ok(gbps > 0.05, `TCP ${x.name} → ${y.name} between nodes at ${gbps} Gbit/s`);
    }

    // liveness on the peer link (NSM_LIVENESS_CHECK_*, on by default): quiet while the link works;
    // when b's VPP interface for it goes down, b's check fails and heal makes the link anew
    assert.doesNotMatch(b.output(), /data plane check failed|liveness check: cannot ping/);
    const dir = /"dir":"([^"]+)"/.exec(b.output())?.[1];
    assert.ok(dir, "vl3-b logged its VPP's run directory");
    const attached = () => b.output().match(/"ifname":"vl3p0".*interface attached/g)?.length ?? 0;
    const before = attached();
    await run("/opt/vpp/bin/vppctl", ["-s", `${dir}/cli.sock`, "set", "interface", "state", "host-vl3p0", "down"]);
    const broken = Date.now();
    await b.waitFor(/data plane check failed/, 10_000);
    for (const end = Date.now() + 20_000; attached() === before; await new Promise((r) => setTimeout(r, 100)))
      assert.ok(Date.now() < end, "vl3-b did not attach its link to vl3-a again");
    await everyoneReachesEveryone(cs, addr, 20_000, { byName: false });
    t.diagnostic(
      `peer link healed by its liveness check, all pairs reached again ${Date.now() - broken} ms after the break`,
    );

    const onA = clientsOf(cs, "vl3-a");
    assert.ok(onA.length > 0 && onA.length < 4, `clients on vl3-a: ${onA.map((c) => c.name).join(" ")}`);
    // vl3-a dies (and its VPP with it): its clients heal to vl3-b, with addresses from vl3-b's prefix
    const dirA = /"dir":"([^"]+)"/.exec(a.output())?.[1];
    assert.ok(dirA && dir, "both endpoints logged their VPP's run directory");
    await a.stop("SIGKILL");
    const killed = Date.now();
    // what the next start of an endpoint does first: vl3-a's run directory (its VPP died with it)
    // and VPP's shared memory of it are removed; vl3-b's, whose owner runs, stay
    assert.ok(existsSync(dirA), "a SIGKILLed endpoint leaves its VPP's run directory");
    for (const end = Date.now() + 10_000; !removeStaleVppRunDirs(VPP_RUN_DIR_PREFIX).includes(dirA);) {
      assert.ok(Date.now() < end, `${dirA} was not removed as stale`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(!existsSync(dirA), `${dirA} removed`);
    assert.deepEqual(
      readdirSync("/dev/shm").filter((f) => f.startsWith(`${vppPrefixOf(dirA)}-`)),
      [],
      "its VPP's shm files removed",
    );
    assert.ok(existsSync(dir), "the live endpoint's run directory stays");
    for (const c of onA) addr.set(c.name, await addressOf(c, /^172\.16\.0\./, 60_000));
    assert.equal(new Set(addr.values()).size, 4, `four distinct addresses: ${[...addr.values()].join(" ")}`);
    await everyoneReachesEveryone(cs, addr, 30_000);
    t.diagnostic(`healed and all pairs reached again ${Date.now() - killed} ms after the kill`);
  },
);
