/**
 * `npm run bench -- chaos [--nscs 10] [--per 10] [--kills 2] [--seed n]`: the ping gap each
 * connection sees when one mesh component is SIGKILLed and restarted by the mesh's supervisor
 * (test/helpers/chaos.ts: 2 nodes, one NSE on node 1, NSC processes on both nodes, 100
 * connections by default, each pinged every 50 ms). Per killed component: median, p99 and max
 * of the per-connection gap (kill → first reply after the outage), over all its kills, plus the
 * kill → startup-line time of the restart itself. Root only.
 *
 * There is no baseline to run beside it (a mesh without restarts has no gap); the restart time
 * is the reference: a gap close to it means the data plane went down with the control plane.
 * Writes bench/results/chaos.json + .svg.
 */
import { median, percentile, type CaseResult, writeResults } from "./lib.js";
import { chaosMesh, rng, VICTIMS } from "../test/helpers/chaos.js";

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

export async function run(args: string[]): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error("bench chaos: needs root (network namespaces)");
    process.exitCode = 1;
    return;
  }
  const nscs = arg(args, "nscs", 10);
  const per = arg(args, "per", 10);
  const kills = arg(args, "kills", 2);
  const seed = arg(args, "seed", Date.now() % 1_000_000);
  const rand = rng(seed);
  console.log(`bench chaos: ${nscs} NSC × ${per} connections, ${kills} kill(s) per component, seed ${seed}`);
  const c = await chaosMesh(undefined, { nscs, perNsc: per });
  const gaps = new Map<string, number[]>();
  const restarts = new Map<string, number[]>();
  try {
    const bad = await c.settle(20_000);
    if (bad.length) throw new Error(`mesh not settled: ${bad.join("; ")}`);
    const order = Array.from({ length: kills }, () => [...VICTIMS].sort(() => rand() - 0.5)).flat();
    for (const v of order) {
      const r = await c.round([v], v.startsWith("forwarder") ? {} : { settleMs: 3000 });
      (gaps.get(v) ?? gaps.set(v, []).get(v)!).push(...r.gaps.map((g) => g.gapMs));
      (restarts.get(v) ?? restarts.set(v, []).get(v)!).push(r.restartMs);
      console.log(
        `  ${v}: restart ${r.restartMs} ms, gap median ${median(r.gaps.map((g) => g.gapMs))} ms, max ${Math.max(...r.gaps.map((g) => g.gapMs))} ms`,
      );
      const left = await c.settle(10_000);
      if (left.length) console.log(`  ${v}: after the round: ${left.join("; ")}`);
    }
  } finally {
    await c.close();
  }
  const results: CaseResult[] = [];
  for (const v of VICTIMS) {
    const g = gaps.get(v) ?? [];
    const rs = restarts.get(v) ?? [];
    const note = `${g.length} connection-gaps over ${rs.length} kill(s)`;
    results.push(
      { case: `${v}/gap-median`, ours: median(g), note },
      { case: `${v}/gap-p99`, ours: percentile(g, 99), note },
      { case: `${v}/gap-max`, ours: Math.max(...g), note },
      { case: `${v}/restart-median`, ours: median(rs), note: "kill → the restarted process's startup line" },
    );
  }
  writeResults("chaos", { unit: "ms (ping gap per connection)", higherIsBetter: false, results });
}
