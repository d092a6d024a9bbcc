/**
 * bench/interdomain — Request→ready across domains vs inside one (root, dnsmasq).
 * `npm run bench -- interdomain [runs]`
 *
 * Two domains (src/mesh/domains.ts) of two nodes each, real processes. A client in this
 * process connects through domain 1 node 0's nsmgr; per run it requests, alternately,
 * `kernel://lsvc/…` (an NSE on domain 1 node 1: one nsmgr hop, vxlan between the nodes) and
 * `kernel://isvc@domain2.nsm/…` (an NSE on domain 2 node 0: DNS-found registry, both
 * nsmgr-proxies, vxlan between the domains). Request→ready = the call returned and the
 * interface has its address in the client netns. Figures: p50/p99 in ms; "ours" is the
 * interdomain Request, "baseline" the one inside the domain (ratio < 1: interdomain is slower).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newCtx } from "../src/core/index.js";
import { Netns } from "../src/datapath/index.js";
import { createDomains } from "../src/mesh/index.js";
import { createClient } from "../src/networkservice/components.js";
import { parseNsUrl, requestFromNsUrl } from "../src/networkservice/utils/nsurl.js";
import { percentile, writeResults, type CaseResult } from "./lib.js";
import { uniq } from "./e2e-cases/common.js";

export async function run(args: string[]): Promise<void> {
  const runs = Number(args[0] ?? 40);
  const id = uniq().replace(/^b-/, "bi");
  const dir = mkdtempSync(join(tmpdir(), `nsm-bench-id-${id}-`));
  const d = await createDomains({ id, dir, count: 2, nodes: 2, progress: (s) => console.error(s) });
  const life = new AbortController();
  try {
    const [A, B] = d.meshes as [(typeof d.meshes)[0], (typeof d.meshes)[0]];
    await A.startNse(1, { name: "nse-l", cidr: "172.16.0.0/20", services: ["lsvc"] });
    await B.startNse(0, { name: "nse-i", cidr: "172.16.16.0/20", services: ["isvc"] });
    const ns = await A.workloadNetns();
    const cl = await createClient({
      name: "nsc",
      signal: life.signal,
      dialTimeoutMs: 5000,
      nsmgrUrl: `unix://${A.state.nodes[0]!.nsmgrSock}`,
      netnsUrl: `file:///run/netns/${ns}`,
      heal: false,
      refresh: false,
    });
    const client = Netns.open({ name: ns });
    let k = 0;
    const one = async (svc: string) => {
      const i = k++;
      const name = `nsm-${i}`;
      const t = process.hrtime.bigint();
      const conn = await cl.client.request(
        requestFromNsUrl(parseNsUrl(`kernel://${svc}/${name}`), `nsc-${i}`),
        newCtx({ timeoutMs: 30_000 }),
      );
      const addrs = await client.addrs({ link: name, family: 4 });
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (!addrs.length) throw new Error(`${name}: no address after Request`);
      await cl.client.close(conn, newCtx({ timeoutMs: 30_000 }));
      return ms;
    };
    const local: number[] = [];
    const inter: number[] = [];
    const isvc = `isvc@${d.names[1]}`;
    for (let i = 0; i < 3; i++) await Promise.all([one("lsvc"), one(isvc)]); // warm-up (DNS cache, channels)
    for (let i = 0; i < runs; i++) {
      local.push(await one("lsvc"));
      inter.push(await one(isvc));
    }
    client.close();
    await cl.close();
    const results: CaseResult[] = [50, 99].map((p) => ({
      case: `request-ready/p${p}`,
      ours: percentile(inter, p),
      baseline: percentile(local, p),
      note: `ms, ${runs} sequential Requests each; baseline: same-domain NSE on another node`,
    }));
    writeResults("interdomain", { unit: "ms", higherIsBetter: false, results });
  } finally {
    life.abort();
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
