/**
 * `npm run fuzz -- NAME [seconds]` for the TS targets (nlwatch, openflow, ovsdb); scripts/fuzz.mjs calls
 * this. Exits 1 when a target finds something (inputs saved under .tmp/fuzz/).
 */
import { fuzz, type FuzzTarget } from "./driver.js";
import { nlwatch } from "./nlwatch.js";
import { openflow } from "./openflow.js";
import { ovsdb } from "./ovsdb.js";

const targets: Record<string, FuzzTarget> = { nlwatch, openflow, ovsdb };
const [name, secs, seedArg] = process.argv.slice(2);
const t = name ? targets[name] : undefined;
if (!t) {
  console.error(`usage: run.ts <${Object.keys(targets).join("|")}> [seconds] [seed]`);
  process.exit(2);
}
const seed = seedArg ? Number(seedArg) : Date.now() >>> 0;
const { runs, findings } = fuzz(t, Number(secs ?? 60), seed);
console.log(`fuzz ${t.name}: ${runs} inputs in ${secs ?? 60} s (seed ${seed}), ${findings.length} findings`);
for (const f of findings) console.log(`  ${f}`);
process.exit(findings.length ? 1 : 0);
