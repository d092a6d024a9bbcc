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
 * iperf3 through a cross-connect comes with the forwarder backend (issue #8, second half).
 */
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { OvsdbClient, Vswitch, op } from "../src/ovs/ovsdb/index.js";
import { startOvs } from "../test/helpers/ovs.js";
import { median, measure, percentile, writeResults, type CaseResult } from "./lib.js";

export async function run(args: string[] = []): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("bench/ovs needs root (ovs-vswitchd in its own netns)");
  const i = args.indexOf("--ops");
  const n = i >= 0 ? Number(args[i + 1]) : 200;
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
    const getOurs = await measure(n, () => db.transact("Open_vSwitch", [op.select("Interface", [["name", "==", "fix0"]], ["ofport"])]));
    const getBase = await measure(Math.min(n, 100), () => vsctl("get", "interface", "fix0", "ofport"));
    row("ovsdb/get-ofport p50", getOurs, getBase);

    // add + del, no wait; every port name is new (warm-up runs reuse measure's index)
    let seq = 0;
    const next = (): number => seq++;
    const nwOurs = await measure(n, async () => {
      const k = next();
      await vs.addPort(br, { name: `o${k}`, type: "internal" }, { wait: false });
      await vs.delPort(br, `o${k}`, { wait: false });
    }, 5);
    const nwBase = await measure(n, () => {
      const k = next();
      vsctl("--no-wait", "add-port", br, `v${k}`, "--", "set", "interface", `v${k}`, "type=internal");
      vsctl("--no-wait", "del-port", br, `v${k}`);
    }, 5);
    row("ovsdb/add+del-port no-wait p50", nwOurs, nwBase);

    // add + del, waiting for vswitchd each time
    const wOurs = await measure(n, async () => {
      const k = next();
      await vs.addPort(br, { name: `wo${k}`, type: "internal" });
      await vs.delPort(br, `wo${k}`);
    }, 5);
    const wBase = await measure(n, () => {
      const k = next();
      vsctl("add-port", br, `wv${k}`, "--", "set", "interface", `wv${k}`, "type=internal");
      vsctl("del-port", br, `wv${k}`);
    }, 5);
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
    results.push({ case: `ovsdb/port-add x${m} sequential (mean)`, ours, baseline: base,
      note: `ours ${(1000 / ours).toFixed(0)} ports/s, ovs-vsctl ${(1000 / base).toFixed(0)} ports/s` });

    const version = execFileSync("ovs-vswitchd", ["--version"], { encoding: "utf8" }).split("\n")[0];
    console.log(`${version}; ${n} ops per case; medians: get ${median(getOurs).toFixed(3)} ms vs ${median(getBase).toFixed(2)} ms`);
    writeResults("ovs", { unit: "ms/op", higherIsBetter: false, results });
    vs.close();
  } finally {
    db.close();
    await ovs.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await run(process.argv.slice(2));
