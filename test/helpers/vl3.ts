/**
 * What the vL3 e2e tests share: a client's vL3 address, pings by DNS name through the client's
 * resolver, and the all-pairs reachability check. Root only (ip netns).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Mesh } from "../../src/mesh/index.js";
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

/**
 * Four clients of `kernel://vl3/nsm-1` with the local DNS proxy, two on each of nodes 0 and 1,
 * connected, with their vL3 addresses (checked distinct and inside 172.16.0.0/23).
 */
export async function fourClients(m: Mesh): Promise<{ cs: MeshWorkload[]; addr: Map<string, string> }> {
  const cs = await Promise.all(
    [0, 0, 1, 1].map((node, i) =>
      m.startNsc(node, {
        name: `nsc-${i}`,
        services: ["kernel://vl3/nsm-1"],
        env: { POD_NAME: `nsc-${i}`, NSM_LOCAL_DNS_SERVER_ENABLED: "true" },
      }),
    ),
  );
  const addr = new Map<string, string>();
  for (const c of cs) {
    await c.waitFor(/connected to/, 30_000);
    addr.set(c.name, await addressOf(c));
  }
  const all = [...addr.values()];
  if (new Set(all).size !== 4) throw new Error(`four distinct addresses expected: ${all.join(" ")}`);
  for (const ip of all) if (!/^172\.16\.[01]\.\d+$/.test(ip)) throw new Error(`${ip} is outside 172.16.0.0/23`);
  return { cs, addr };
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
