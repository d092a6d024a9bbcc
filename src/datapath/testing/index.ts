/**
 * Test-only helpers for root e2e tests of the datapath: unique names, fresh network namespaces
 * made with `ip netns add`, and one LIFO cleanup stack that runs after failures too and reports
 * every error. Product code never imports this (and never shells out to `ip`).
 */
import { execFile, execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { promisify } from "node:util";
import type { TestContext } from "node:test";
import { nativeAvailable } from "../../native.js";
import { Netns } from "../netns.js";

const execFileP = promisify(execFile);

/** Skip reason for root-only datapath tests, or false when they can run. */
export const rootSkip: string | false =
  process.getuid?.() !== 0
    ? "needs root (netns)"
    : !nativeAvailable()
      ? "addon not built (npm run build:native)"
      : false;

let counter = 0;
/** `t-<pid>-<n>`: unique per process and call, ≤ 15 bytes for pids up to 7 digits and n < 1000. */
export const uniq = (): string => `t-${process.pid}-${counter++}`;

/** Runs `ip` synchronously; throws with stderr on failure. */
export function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
export async function ipAsync(...args: string[]): Promise<string> {
  return (await execFileP("ip", args, { encoding: "utf8" })).stdout;
}
/** `ip -j ...` parsed. */
export function ipJson<T = Record<string, unknown>[]>(...args: string[]): T {
  return JSON.parse(ip("-j", ...args) || "[]") as T;
}

/**
 * `ip netns exec <ns> ping`: resolves once `count` replies came back, rejects (with ping's
 * output) if they did not within `deadlineS` seconds. The deadline covers a first tunnel
 * handshake (wireguard-go retries one after 5 s).
 */
export async function ping(ns: string, addr: string, count = 1, deadlineS = 10): Promise<void> {
  await execFileP("ip", [
    "netns",
    "exec",
    ns,
    "ping",
    "-n",
    "-q",
    "-c",
    String(count),
    "-i",
    "0.2",
    "-w",
    String(deadlineS),
    addr,
  ]);
}

export interface Cleanup {
  push(what: string, f: () => unknown): void;
  run(): Promise<void>;
}

/** LIFO cleanup: every step runs even if earlier ones fail; all failures are reported. */
export function cleanupStack(): Cleanup {
  const steps: { what: string; f: () => unknown }[] = [];
  return {
    push: (what, f) => void steps.push({ what, f }),
    async run() {
      const errors: Error[] = [];
      for (const s of steps.splice(0).reverse()) {
        try {
          await s.f();
        } catch (e) {
          errors.push(new Error(`cleanup "${s.what}": ${(e as Error).message}`, { cause: e }));
        }
      }
      if (errors.length)
        throw new AggregateError(
          errors,
          `cleanup: ${errors.length} step(s) failed: ${errors.map((e) => e.message).join("; ")}`,
        );
    },
  };
}

export interface Sandbox {
  readonly cleanup: Cleanup;
  /** A fresh named netns (deleted at cleanup) and an open handle on it (closed at cleanup). */
  netns(): { name: string; ns: Netns };
  name(): string;
}

/** Test sandbox: cleanup registered with `t.after`, then a leak check for netns we named. */
export function sandbox(t: TestContext): Sandbox {
  const cleanup = cleanupStack();
  const made: string[] = [];
  t.after(async () => {
    await cleanup.run();
    const left = readdirSync("/run/netns").filter((n) => made.includes(n));
    if (left.length) throw new Error(`netns left behind: ${left.join(", ")}`);
  });
  return {
    cleanup,
    name: uniq,
    netns() {
      const name = uniq();
      ip("netns", "add", name);
      made.push(name);
      cleanup.push(`ip netns del ${name}`, () => ip("netns", "del", name));
      const ns = Netns.open({ name });
      cleanup.push(`close ${name}`, () => ns.close());
      return { name, ns };
    },
  };
}

/** Links in the root netns whose names start with `t-<pid>` (must be none after a test). */
export function rootLeftovers(): string[] {
  return ipJson<{ ifname: string }[]>("link", "show")
    .map((l) => l.ifname)
    .filter((n) => n.startsWith(`t-${process.pid}`));
}
