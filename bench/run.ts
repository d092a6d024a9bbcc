/**
 * `npm run bench -- NAME [args]`: runs bench/NAME.ts's exported `run(args)`. Without a name,
 * lists the benchmarks. Results land in bench/results/NAME.json (+ .svg).
 */
import { readdirSync } from "node:fs";

const here = new URL(".", import.meta.url).pathname;
const names = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && !["run.ts", "lib.ts"].includes(f))
  .map((f) => f.slice(0, -3))
  .sort();
const [name, ...args] = process.argv.slice(2);
const pick = name?.split("/")[0];
if (!pick || !names.includes(pick)) {
  console.log(`usage: npm run bench -- <${names.join("|")}> [args]`);
  process.exit(pick ? 2 : 0);
}
const mod = (await import(`./${pick}.ts`)) as { run(args: string[]): Promise<unknown> };
await mod.run(name!.includes("/") ? [name!.slice(pick.length + 1), ...args] : args);
