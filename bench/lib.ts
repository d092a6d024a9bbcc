/**
 * Shared bench helpers: timing, percentiles, and the result file every benchmark writes —
 * bench/results/<name>.json in the ARCHITECTURE.md format plus an SVG bar chart beside it.
 *
 *   const r = await measure(200, () => doOne());           // per-iteration ms
 *   await writeResults("registry", { unit: "ops/s", higherIsBetter: true, results: [
 *     { case: "memory/register", ours: 8000, baseline: 6000 } ] });
 */
import { execSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { hostname, cpus } from "node:os";
import { join } from "node:path";

export const RESULTS_DIR = new URL("./results/", import.meta.url).pathname;

export interface CaseResult {
  case: string;
  ours: number;
  baseline?: number | null;
  ratio?: number | null;
  note?: string;
}
export interface BenchReport {
  name: string;
  unit: string;
  higherIsBetter: boolean;
  results: CaseResult[];
  env: Record<string, unknown>;
}

export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}
export const median = (v: readonly number[]) => percentile(v, 50);

/** Runs `fn` `n` times sequentially after `warmup` runs; returns each run's duration in ms. */
export async function measure(n: number, fn: (i: number) => unknown, warmup = Math.min(10, n)): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

function envBlock(): Record<string, unknown> {
  let commit = "unknown";
  try {
    commit = execSync("git rev-parse --short HEAD", { stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {
    /* not a checkout */
  }
  return {
    commit,
    node: process.version,
    host: hostname(),
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    date: new Date().toISOString(),
  };
}

/** ratio > 1 means ours beats the baseline, whichever direction is better. */
export function ratioOf(c: CaseResult, higherIsBetter: boolean): number | null {
  if (c.baseline === undefined || c.baseline === null || !c.ours || !c.baseline) return null;
  return higherIsBetter ? c.ours / c.baseline : c.baseline / c.ours;
}

/** Writes results/<name>.json and results/<name>.svg and prints a table; returns the report. */
export function writeResults(
  name: string,
  r: { unit: string; higherIsBetter: boolean; results: CaseResult[] },
): BenchReport {
  const results = r.results.map((c) => ({
    ...c,
    baseline: c.baseline ?? null,
    ratio: c.ratio ?? ratioOf(c, r.higherIsBetter),
  }));
  const report: BenchReport = { name, unit: r.unit, higherIsBetter: r.higherIsBetter, results, env: envBlock() };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${name}.json`), JSON.stringify(report, null, 2) + "\n");
  writeFileSync(join(RESULTS_DIR, `${name}.svg`), svgChart(report));
  printTable(report);
  return report;
}

export function printTable(r: BenchReport): void {
  const fmt = (v: number | null | undefined) =>
    v === null || v === undefined || Number.isNaN(v)
      ? "-"
      : v >= 100
        ? v.toFixed(0)
        : v >= 1
          ? v.toFixed(2)
          : v.toPrecision(3);
  const w = Math.max(4, ...r.results.map((c) => c.case.length));
  console.log(`\n${r.name} (${r.unit}, ${r.higherIsBetter ? "higher" : "lower"} is better)`);
  console.log(`${"case".padEnd(w)}  ${"ours".padStart(10)}  ${"baseline".padStart(10)}  ${"ratio".padStart(6)}`);
  for (const c of r.results)
    console.log(
      `${c.case.padEnd(w)}  ${fmt(c.ours).padStart(10)}  ${fmt(c.baseline).padStart(10)}  ${fmt(c.ratio).padStart(6)}${c.note ? `  ${c.note}` : ""}`,
    );
}

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]!);

/** A horizontal grouped bar chart: ours vs baseline per case, each case scaled to its own max. */
export function svgChart(r: BenchReport): string {
  const rowH = 34,
    left = 260,
    barW = 380,
    top = 40;
  const h = top + r.results.length * rowH + 30;
  const rows = r.results
    .map((c, i) => {
      const y = top + i * rowH;
      const max = Math.max(c.ours || 0, c.baseline || 0) || 1;
      const ow = ((c.ours || 0) / max) * barW,
        bw = ((c.baseline || 0) / max) * barW;
      const ratio = c.ratio ? ` ×${c.ratio.toFixed(2)}` : "";
      return [
        `<text x="${left - 8}" y="${y + 14}" text-anchor="end" font-size="12">${esc(c.case)}</text>`,
        `<rect x="${left}" y="${y}" width="${ow.toFixed(1)}" height="12" fill="#2b7bb9"/>`,
        `<text x="${left + ow + 4}" y="${y + 10}" font-size="10">${(c.ours ?? 0).toPrecision(4)}${esc(ratio)}</text>`,
        c.baseline ? `<rect x="${left}" y="${y + 14}" width="${bw.toFixed(1)}" height="12" fill="#bbbbbb"/>` : "",
        c.baseline ? `<text x="${left + bw + 4}" y="${y + 24}" font-size="10">${c.baseline.toPrecision(4)}</text>` : "",
      ].join("");
    })
    .join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${left + barW + 120}" height="${h}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="14" font-weight="bold">${esc(r.name)} — ${esc(r.unit)} (${r.higherIsBetter ? "higher" : "lower"} is better)</text>
<rect x="${left}" y="26" width="10" height="8" fill="#2b7bb9"/><text x="${left + 14}" y="34" font-size="10">ours</text>
<rect x="${left + 50}" y="26" width="10" height="8" fill="#bbbbbb"/><text x="${left + 64}" y="34" font-size="10">baseline</text>
${rows}
</svg>
`;
}
