/** Process helpers for tests that run the `nsm` bin: a clean environment, finding live processes. */
import { readdirSync, readFileSync } from "node:fs";

/** Our environment without what npm (`npm test`) or an nsm bin put there for its own children. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.toLowerCase().startsWith("npm_") && !k.startsWith("NSM_")) env[k] = v;
  }
  return env;
}

/** pids of live processes whose command line (or, with `where: "environ"`, environment) contains `needle`. */
export function pidsWith(needle: string, where: "cmdline" | "environ" = "cmdline"): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/${where}`, "utf8").includes(needle)) out.push(Number(d));
    } catch {
      // exited meanwhile, or not ours
    }
  }
  return out;
}

/** Polls `ok` every 25 ms until it holds; throws naming `what` after `ms`. For other processes' state, which sends no event. */
export async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
