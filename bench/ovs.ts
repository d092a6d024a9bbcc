/**
 * bench/ovs: OVSDB latency of our client vs `ovs-vsctl` in the same run, against one private
 * ovsdb-server + ovs-vswitchd (userspace datapath; test/helpers/ovs.ts). Root only.
 *
 *   npm run bench -- ovs [--ops 200]
 *   node --import tsx bench/ovs.ts [--ops 200]
 *
 * Cases (ms per operation, lower is better; ratio > 1 = ours faster):
 * - ovsdb/get-ofport: one `select Interface ofport` transact vs `ovs-vsctl get interface P ofport`
 * - ovsdb/add+del-port no-wait: Vswitch.addPort+delPort ({wait:false}) vs `ovs-vsctl --no-wait add-port`/`del-port`
 * - ovsdb/add+del-port wait p50/p99: the same, each change waited for until vswitchd applied it
 *   (cur_cfg ≥ next_cfg), which is what `ovs-vsctl` does by default
 * - ovsdb/port-add sequential: N internal ports added one after another (wait), mean ms/port
 *   (ports/s in the note), then removed
 * - iperf3/tcp: TCP throughput (Gbit/s, higher is better; ratio = ours / baseline) NSC→NSE through
 *   our forwarder's cross-connect (OVS backend: veth ports + the two xconnect flows, plumbed by a Request
 *   through nsmgr and forwarder in this process) vs a hand-made OVS veth↔veth baseline (ports by
 *   `ovs-vsctl`, flows by `ovs-ofctl add-flow`) on the same vswitchd, rounds alternating.
 *
 *   npm run bench -- ovs/iperf [--seconds 3 --rounds 3]   only the iperf3 cases (other rows of ovs.json are kept)
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ovsBackend } from "../src/forwarder/backends/ovs/index.js";
import { OvsdbClient, Vswitch, op } from "../src/ovs/ovsdb/index.js";
import { startOvs } from "../test/helpers/ovs.js";
import { startMesh } from "./lib-mesh.js";
import { median, measure, percentile, RESULTS_DIR, writeResults, type BenchReport, type CaseResult } from "./lib.js";

const num = (args: string[], flag: string, dflt: number): number => {
  const i = args.indexOf(flag);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};

export async function run(args: string[] = []): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("bench/ovs needs root (ovs-vswitchd in its own netns)");
  const only = args[0] && !args[0].startsWith("--") ? args[0] : undefined;
  const results: CaseResult[] = [];
  if (!only || only.startsWith("ovsdb")) results.push(...(await ovsdbCases(num(args, "--ops", 200))));
  if (!only || only.startsWith("iperf"))
    results.push(...(await iperfCases(num(args, "--seconds", 3), num(args, "--rounds", 3))));
  // a partial run keeps the other rows of the last full one
  const file = join(RESULTS_DIR, "ovs.json");
  const kept =
    only && existsSync(file)
      ? (JSON.parse(readFileSync(file, "utf8")) as BenchReport).results.filter(
          (c) => !results.some((r) => r.case === c.case),
        )
      : [];
  writeResults("ovs", { unit: "ms/op (iperf3 rows: Gbit/s)", higherIsBetter: false, results: [...kept, ...results] });
}

async function ovsdbCases(n: number): Promise<CaseResult[]> {
  const ovs = await startOvs();
  const vsctl = (...a: string[]): string =>
    execFileSync("ovs-vsctl", [`--db=${ovs.dbTarget}`, "--timeout=10", ...a], { env: ovs.env, encoding: "utf8" });
  const db = await OvsdbClient.connect(ovs.dbTarget);
  try {
    const vs = await Vswitch.open(db);
    const br = "bb0";
    await vs.addBridge({ name: br, datapathType: "netdev", failMode: "secure" });
    await vs.addPort(br, { name: "fix0", type: "internal" });
    await vs.waitOfport("fix0");
    const results: CaseResult[] = [];
    const row = (name: string, ours: number[], base: number[], p = 50): void => {
      results.push({ case: name, ours: percentile(ours, p), baseline: percentile(base, p) });
    };

    // reads
    const getOurs = await measure(n, () =>
      db.transact("Open_vSwitch", [op.select("Interface", [["name", "==", "fix0"]], ["ofport"])]),
    );
    const getBase = await measure(Math.min(n, 100), () => vsctl("get", "interface", "fix0", "ofport"));
    row("ovsdb/get-ofport p50", getOurs, getBase);

    // add + del, no wait; every port name is new (warm-up runs reuse measure's index)
    let seq = 0;
    const next = (): number => seq++;
    const nwOurs = await measure(
      n,
      async () => {
        const k = next();
        await vs.addPort(br, { name: `o${k}`, type: "internal" }, { wait: false });
        await vs.delPort(br, `o${k}`, { wait: false });
      },
      5,
    );
    const nwBase = await measure(
      n,
      () => {
        const k = next();
        vsctl("--no-wait", "add-port", br, `v${k}`, "--", "set", "interface", `v${k}`, "type=internal");
        vsctl("--no-wait", "del-port", br, `v${k}`);
      },
      5,
    );
    row("ovsdb/add+del-port no-wait p50", nwOurs, nwBase);

    // add + del, waiting for vswitchd each time
    const wOurs = await measure(
      n,
      async () => {
        const k = next();
        await vs.addPort(br, { name: `wo${k}`, type: "internal" });
        await vs.delPort(br, `wo${k}`);
      },
      5,
    );
    const wBase = await measure(
      n,
      () => {
        const k = next();
        vsctl("add-port", br, `wv${k}`, "--", "set", "interface", `wv${k}`, "type=internal");
        vsctl("del-port", br, `wv${k}`);
      },
      5,
    );
    row("ovsdb/add+del-port wait p50", wOurs, wBase);
    row("ovsdb/add+del-port wait p99", wOurs, wBase, 99);

    // sequential port add rate (ports kept until the end of the burst)
    const m = Math.min(n, 100);
    let t0 = performance.now();
    for (let k = 0; k < m; k++) await vs.addPort(br, { name: `ro${k}`, type: "internal" });
    const ours = (performance.now() - t0) / m;
    for (let k = 0; k < m; k++) await vs.delPort(br, `ro${k}`);
    t0 = performance.now();
    for (let k = 0; k < m; k++) vsctl("add-port", br, `rv${k}`, "--", "set", "interface", `rv${k}`, "type=internal");
    const base = (performance.now() - t0) / m;
    for (let k = 0; k < m; k++) vsctl("del-port", br, `rv${k}`);
    results.push({
      case: `ovsdb/port-add x${m} sequential (mean)`,
      ours,
      baseline: base,
      note: `ours ${(1000 / ours).toFixed(0)} ports/s, ovs-vsctl ${(1000 / base).toFixed(0)} ports/s`,
    });

    const version = execFileSync("ovs-vswitchd", ["--version"], { encoding: "utf8" }).split("\n")[0];
    console.log(
      `${version}; ${n} ops per case; medians: get ${median(getOurs).toFixed(3)} ms vs ${median(getBase).toFixed(2)} ms`,
    );
    vs.close();
    return results;
  } finally {
    db.close();
    await ovs.stop();
  }
}

const sh = (cmd: string, ...a: string[]): string =>
  execFileSync(cmd, a, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** One iperf3 TCP run from netns `from` to `addr` in netns `to`; Gbit/s as the receiver counted it. */
async function iperf(from: string, to: string, addr: string, seconds: number): Promise<number> {
  const srv = spawn("ip", ["netns", "exec", to, "iperf3", "-s", "-1", "-B", addr], { stdio: "ignore" });
  try {
    const until = Date.now() + 5_000;
    while (!sh("ip", "netns", "exec", to, "ss", "-ltnH", "sport", "= :5201").trim()) {
      if (Date.now() > until) throw new Error(`iperf3 server in ${to} did not listen`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn("ip", ["netns", "exec", from, "iperf3", "-c", addr, "-t", String(seconds), "-J"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let buf = "";
      c.stdout.on("data", (b: Buffer) => {
        buf += b;
      });
      c.on("exit", (code) =>
        code === 0
          ? resolve(buf)
          : reject(new Error(`iperf3 -c ${addr} from ${from}: exit ${code}: ${buf.slice(-500)}`)),
      );
    });
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    srv.kill();
  }
}

async function iperfCases(seconds: number, rounds: number): Promise<CaseResult[]> {
  const stack: (() => unknown)[] = [];
  const netns = (name: string) => {
    sh("ip", "netns", "add", name);
    stack.push(() => sh("ip", "netns", "del", name));
    sh("ip", "-n", name, "link", "set", "lo", "up");
    return name;
  };
  try {
    // vswitchd reads userspace-tso-enable at start only: set it, then start vswitchd
    const ovs = await startOvs({ vswitchd: false });
    stack.push(() => ovs.stop());
    ovs.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:userspace-tso-enable=true");
    await ovs.restartVswitchd();

    // baseline: two namespaces, veths whose host ends are ports of a netdev bridge, flows by ovs-ofctl
    const p = `b${process.pid}`;
    const [ba, bb] = [netns(`t-${p}-a`), netns(`t-${p}-b`)];
    ovs.vsctl(
      "add-br",
      "bbase",
      "--",
      "set",
      "bridge",
      "bbase",
      "datapath_type=netdev",
      "fail_mode=secure",
      "protocols=OpenFlow13",
    );
    for (const [ns, hostEnd, addr] of [
      [ba, "hb-a", "10.78.0.1/24"],
      [bb, "hb-b", "10.78.0.2/24"],
    ] as const) {
      sh("ip", "-n", ovs.netns, "link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", ns);
      sh("ip", "-n", ovs.netns, "link", "set", hostEnd, "up");
      sh("ip", "-n", ns, "addr", "add", addr, "dev", "eth0");
      sh("ip", "-n", ns, "link", "set", "eth0", "up");
      ovs.vsctl("add-port", "bbase", hostEnd);
    }
    ovs.ofctl("add-flow", "bbase", "in_port=hb-a,actions=output:hb-b");
    ovs.ofctl("add-flow", "bbase", "in_port=hb-b,actions=output:hb-a");

    // ours: nsmgr + forwarder (OVS backend) + NSE + NSC in this process; a Request plumbs the cross-connect
    const dir = mkdtempSync(join(tmpdir(), "nsm-bench-ovs-"));
    stack.push(() => rmSync(dir, { recursive: true, force: true }));
    const [nsc, nse] = [netns(`t-${p}-c`), netns(`t-${p}-e`)];
    const mesh = await startMesh({
      dir,
      backend: () =>
        ovsBackend({ db: ovs.dbTarget, bridge: "br-nsm", rundir: ovs.dir, netns: `/run/netns/${ovs.netns}` }),
      service: "iperf",
      cidrs: ["172.16.7.0/28"],
      nscNetns: nsc,
      nseNetns: nse,
    });
    stack.push(() => mesh.stop());
    const conn = await mesh.request("nsm-1", "bench-0", 15_000);
    const nseAddr = conn.context!.ipContext!.dstIpAddrs[0]!.split("/")[0]!;

    const ours: number[] = [],
      base: number[] = [];
    await iperf(ba, bb, "10.78.0.2", 1); // warm-up both paths
    await iperf(nsc, nse, nseAddr, 1);
    for (let r = 0; r < rounds; r++) {
      base.push(await iperf(ba, bb, "10.78.0.2", seconds));
      ours.push(await iperf(nsc, nse, nseAddr, seconds));
    }
    const o = median(ours),
      b = median(base);
    console.log(
      `iperf3 ${seconds} s x ${rounds} rounds, Gbit/s: ours ${ours.map((x) => x.toFixed(2)).join(" ")}; baseline ${base.map((x) => x.toFixed(2)).join(" ")}`,
    );
    await mesh.close(conn);
    return [
      {
        case: "iperf3/tcp NSC→NSE Gbit/s (median)",
        ours: o,
        baseline: b,
        ratio: o / b,
        note: `higher is better; ${rounds}×${seconds} s alternating; goal ≥ 0.9×`,
      },
    ];
  } finally {
    for (const f of stack.reverse()) {
      try {
        await f();
      } catch (e) {
        console.error(`bench/ovs cleanup: ${(e as Error).message}`);
      }
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await run(process.argv.slice(2));
