/**
 * What the vL3 e2e tests share: a client's vL3 address, pings by DNS name through the client's
 * resolver, and the all-pairs reachability check. Root only (ip netns).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { pingUntil, type MeshWorkload } from "./workloads.js";

const run = promisify(execFile);

/** the client's vL3 address: the one on its nsm-1 (outside `not`, while an old one may linger) */
export async function addressOf(c: MeshWorkload, not?: RegExp, ms = 30_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const { stdout } = await run("ip", ["-n", c.workload, "-j", "-4", "addr", "show", "dev", "nsm-1"]);
      const a = (JSON.parse(stdout) as { addr_info: { local: string }[] }[])[0]?.addr_info[0]?.local;
      if (a && !not?.test(a)) return a;
    } catch {
      /* no interface yet */
    }
    if (Date.now() > end) throw new Error(`${c.name}: no vL3 address on nsm-1${not ? ` outside ${not}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** ping by name through the workload's resolver (ip netns exec binds /etc/netns/<ns>/resolv.conf) */
export async function pingName(netns: string, name: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      await run("ip", ["netns", "exec", netns, "ping", "-n", "-c", "1", "-W", "1", name]);
      return;
    } catch (e) {
      if (Date.now() > end)
        throw new Error(`${netns}: ping ${name}: ${(e as { stderr?: string }).stderr ?? e}`, { cause: e });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** every client pings every other by address, then (unless `byName` is false) by `<name>.vl3` */
export async function everyoneReachesEveryone(
  cs: MeshWorkload[],
  addr: Map<string, string>,
  ms: number,
  o: { byName?: boolean } = {},
): Promise<void> {
  const pairs = cs.flatMap((a) => cs.filter((b) => b !== a).map((b) => [a, b] as const));
  for (const [a, b] of pairs) await pingUntil(a.workload, addr.get(b.name)!, ms);
  if (o.byName !== false) for (const [a, b] of pairs) await pingName(a.workload, `${b.name}.vl3`, ms);
}

/** the clients whose first connection went to endpoint `nse` (from their "connected to" line) */
export function clientsOf(cs: MeshWorkload[], nse: string): MeshWorkload[] {
  return cs.filter((c) =>
    new RegExp(`endpoint ${nse}\\b`).test(
      c
        .output()
        .split("\n")
        .find((l) => /connected to/.test(l)) ?? "",
    ),
  );
}
