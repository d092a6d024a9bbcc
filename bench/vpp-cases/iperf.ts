/**
 * bench/vpp iperf3: TCP NSC→NSE through the VPP backend vs the same path made by hand with
 * `vppctl` against a second private VPP, in the same run, rounds alternating.
 *
 * - ours: nsmgr, forwarder (VPP backend, its own VPP in a node netns), NSE and NSC in this
 *   process; one `kernel://iperf/nsm-1` Request makes the path: per side a veth pair read by
 *   VPP's af_packet (TPACKET_V2 + checksum/GSO header), l3xc both ways, static neighbours.
 * - baseline: two namespaces each with a veth pair whose other end is a VPP `create
 *   host-interface v2` (CLI defaults: checksum/GSO on, 1024 frames), `l3xc add … via`, static
 *   neighbours in VPP and in both namespaces; everything typed as `vppctl` commands.
 *
 * Gbit/s as the receiver counted it, median of the rounds; ratio = ours / baseline.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { vppBackend } from "../../src/forwarder/backends/vpp/index.js";
import { launchVpp, type LaunchedVpp } from "../../src/vpp/launch.js";
import { iperf3 } from "../../test/helpers/iperf.js";
import { uniq, withNetns } from "../e2e-cases/common.js";
import { median, type CaseResult } from "../lib.js";
import { startMesh } from "../lib-mesh.js";

const exec = promisify(execFile);
const VPPCTL = "/opt/vpp/bin/vppctl";
const ip = (...a: string[]) => exec("ip", a);

/** `show interface` + `show errors` of a VPP: what a failed run prints */
async function vppState(cli: string): Promise<string> {
  const out: string[] = [];
  for (const c of [
    ["show", "interface"],
    ["show", "errors"],
  ])
    out.push(
      await exec(VPPCTL, ["-s", cli, ...c]).then(
        (r) => r.stdout,
        (e: Error) => e.message,
      ),
    );
  return out.join("\n");
}

/** The hand-made path between namespaces `a` (10.79.0.1) and `b` (10.79.0.2) through `vpp`. */
async function handMade(vpp: LaunchedVpp, node: string, a: string, b: string): Promise<void> {
  const ctl = (...args: string[]) => exec(VPPCTL, ["-s", vpp.cliSocket, ...args]);
  const ends = [
    { ns: a, me: "10.79.0.1", far: "10.79.0.2", veth: `hv${process.pid % 100000}a`, vppMac: "02:00:00:79:00:0a" },
    { ns: b, me: "10.79.0.2", far: "10.79.0.1", veth: `hv${process.pid % 100000}b`, vppMac: "02:00:00:79:00:0b" },
  ];
  const macs: string[] = [];
  for (const e of ends) {
    await ip("-n", e.ns, "link", "add", "eth0", "type", "veth", "peer", "name", e.veth, "netns", node);
    await ip("-n", e.ns, "addr", "add", `${e.me}/32`, "dev", "eth0");
    await ip("-n", e.ns, "link", "set", "eth0", "up");
    await ip("-n", e.ns, "route", "add", `${e.far}/32`, "dev", "eth0");
    await ip("-n", e.ns, "neigh", "replace", e.far, "lladdr", e.vppMac, "dev", "eth0", "nud", "permanent");
    await ip("-n", node, "link", "set", e.veth, "up");
    const { stdout } = await ip("-n", e.ns, "-j", "link", "show", "eth0");
    macs.push((JSON.parse(stdout) as { address: string }[])[0]!.address);
    await ctl("create", "host-interface", "v2", "name", e.veth, "hw-addr", e.vppMac);
  }
  const [ha, hb] = ends.map((e) => `host-${e.veth}`);
  await ctl("set", "ip", "neighbor", ha!, ends[0]!.me, macs[0]!, "static");
  await ctl("set", "ip", "neighbor", hb!, ends[1]!.me, macs[1]!, "static");
  await ctl("l3xc", "add", ha!, "via", ends[1]!.me, hb!);
  await ctl("l3xc", "add", hb!, "via", ends[0]!.me, ha!);
  await ctl("set", "interface", "state", hb!, "up");
  await ctl("set", "interface", "state", ha!, "up");
}

export async function iperfCases(seconds = 3, rounds = 3): Promise<CaseResult[]> {
  const [nsc, nse, node, ba, bb, bnode] = [uniq(), uniq(), uniq(), uniq(), uniq(), uniq()];
  const dir = mkdtempSync(join(tmpdir(), "nsm-bench-vpp-iperf-"));
  const stack: (() => unknown)[] = [];
  try {
    return await withNetns([nsc, nse, node, ba, bb, bnode], async () => {
      try {
        // baseline: its own VPP in its own netns, configured by vppctl
        const base = await launchVpp({ dir: join(dir, "base"), netns: `/run/netns/${bnode}` });
        stack.push(() => base.stop());
        await handMade(base, bnode, ba, bb);

        // ours: a Request through the VPP backend
        const mesh = await startMesh({
          dir,
          backend: () => vppBackend({ runDir: join(dir, "vpp"), netns: `/run/netns/${node}` }),
          service: "iperf",
          cidrs: ["172.16.7.0/28"],
          payload: "IP",
          nscNetns: nsc,
          nseNetns: nse,
        });
        stack.push(() => mesh.stop());
        const conn = await mesh.request("nsm-1", "bench-iperf-0", 15_000);
        stack.push(() => mesh.close(conn));
        const nseAddr = conn.context!.ipContext!.dstIpAddrs[0]!.split("/")[0]!;
        const oursCli = join(dir, "vpp", "cli.sock");

        const runOurs = (s: number) => iperf3(nsc, nse, nseAddr, s, () => vppState(oursCli));
        const runBase = (s: number) => iperf3(ba, bb, "10.79.0.2", s, () => vppState(base.cliSocket));
        await runBase(1); // warm-up both paths
        await runOurs(1);
        const ours: number[] = [],
          baseline: number[] = [],
          load: number[] = [];
        for (let r = 0; r < rounds; r++) {
          load.push(loadavg()[0]!);
          baseline.push(await runBase(seconds));
          ours.push(await runOurs(seconds));
        }
        const fmt = (v: number[]) => v.map((x) => x.toFixed(2)).join(" ");
        console.log(`vpp iperf3 ${rounds}×${seconds} s, Gbit/s: ours ${fmt(ours)}; baseline ${fmt(baseline)}`);
        const o = median(ours),
          b = median(baseline);
        return [
          {
            case: "iperf3/tcp NSC→NSE Gbit/s (median)",
            ours: o,
            baseline: b,
            ratio: o / b,
            note: `Gbit/s, higher is better; baseline: vppctl host-interface + l3xc; ${rounds}×${seconds} s alternating; load ${fmt(load)}`,
          },
        ];
      } finally {
        for (const f of stack.reverse()) {
          try {
            await f();
          } catch (e) {
            console.error(`bench/vpp iperf cleanup: ${(e as Error).message}`);
          }
        }
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
