#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per area (protobuf,
// grpc-js, http2, logging, token, our src/ by folder, GC, idle), as text tables for
// docs/performance.md. `--from MS` skips the first MS ms of the profile (startup).
//   node scripts/cpuprof-top.mjs FILE.cpuprofile [--top 25] [--from 0]
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(`--${n}`) ? Number(args[args.indexOf(`--${n}`) + 1]) : d);
const file = args.find((a) => a.endsWith(".cpuprofile"));
if (!file) {
  console.error("usage: cpuprof-top.mjs FILE.cpuprofile [--top N] [--from MS]");
  process.exit(2);
}
const p = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map();
let t = 0;
const from = opt("from", 0) * 1000;
p.samples.forEach((id, i) => {
  t += p.timeDeltas[i];
  if (t < from) return;
  self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
});

function area(url, fn) {
  if (!url) return fn.startsWith("(") ? fn : "(native/builtin)";
  if (url.includes("@bufbuild/protobuf")) return "protobuf-es";
  if (url.includes("@grpc/grpc-js")) return "grpc-js";
  if (url.includes("node:internal/http2") || url.includes("node:http2")) return "node http2";
  if (url.includes("node:internal/stream") || url.includes("node:net") || url.includes("node:internal/net"))
    return "node streams/net";
  if (url.includes("pino") || url.includes("sonic-boom")) return "logging (pino)";
  if (url.includes("/jose/")) return "token (jose)";
  if (url.includes("node:internal/crypto") || url.includes("node:crypto")) return "node crypto";
  if (url.includes("node_modules/tsx") || url.includes("esbuild")) return "tsx loader";
  const m = /\/src\/([^/]+\/(?:[^/]+\/)?)/.exec(url);
  if (m && !url.includes("node_modules")) return `src/${m[1]}`;
  if (url.startsWith("node:")) return "node (other)";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  return nm ? nm[1] : url;
}
const fnAgg = new Map(),
  areaAgg = new Map();
let total = 0;
for (const [id, us] of self) {
  const n = byId.get(id);
  const { functionName, url, lineNumber } = n.callFrame;
  const fn = functionName || "(anonymous)";
  const short = url ? url.replace(/^.*\/(node_modules|src)\//, "$1/").replace(/^file:\/\//, "") : "";
  const key = `${fn}  ${short}${url ? `:${lineNumber + 1}` : ""}`;
  fnAgg.set(key, (fnAgg.get(key) ?? 0) + us);
  const a = area(url, fn);
  areaAgg.set(a, (areaAgg.get(a) ?? 0) + us);
  total += us;
}
const busy = total - (areaAgg.get("(idle)") ?? 0);
const table = (m, n, title) => {
  console.log(`\n${title}  (busy ${(busy / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms sampled)`);
  console.log("| self ms | % busy | " + title + " |\n|---:|---:|---|");
  [...m]
    .filter(([k]) => k !== "(idle)" && !k.startsWith("(idle)"))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .forEach(([k, us]) => console.log(`| ${(us / 1000).toFixed(0)} | ${((100 * us) / busy).toFixed(1)} | \`${k}\` |`));
};
table(areaAgg, 20, "area");
table(fnAgg, opt("top", 25), "function");
