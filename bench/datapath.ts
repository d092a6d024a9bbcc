/**
 * bench/datapath: create N (default 1000) veth pairs with one end directly in a target netns,
 * then delete them — ours (src/datapath, one batch = one native call) vs `ip -batch` in the
 * same run. Root only. Writes bench/results/datapath.json (+ .svg) via bench/lib.ts.
 *
 *   npm run bench -- datapath [--pairs 1000] [--rounds 3]
 *   node --import tsx bench/datapath.ts [--pairs 1000] [--rounds 3]
 *
 * Per-pair times: ours from the addon's per-message timing (send to ack); the baseline from
 * `ip -echo -batch`, one echoed line per created pair, timestamped as it arrives (line-buffered
 * via stdbuf; the gaps between consecutive lines). Means are wall time / N of the whole batch (baseline: plain `ip -batch`, no echo).
 * `ip` has no per-command output on delete, so delete has means only, plus a group delete.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Netns } from "../src/datapath/index.js";
import { median, percentile, writeResults, type CaseResult } from "./lib.js";

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const ip = (...a: string[]): string => execFileSync("ip", a, { encoding: "utf8" });

async function ipBatch(args: string[], file: string, onLine?: (line: string, t: number) => void): Promise<number> {
  const t0 = now();
  const child = spawn(
    onLine ? "stdbuf" : "ip",
    onLine ? ["-oL", "ip", ...args, "-batch", file] : [...args, "-batch", file],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let rest = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    const t = now();
    const lines = (rest + d).split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) onLine?.(l, t);
  });
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  if (code !== 0) throw new Error(`ip ${args.join(" ")} -batch exited with ${code}`);
  return now() - t0;
}

const linkCount = (ns: string): number => ip("-n", ns, "-o", "link", "show").split("\n").filter(Boolean).length;

export async function run(args: string[] = []): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("bench/datapath needs root (it creates network namespaces)");
  const i = args.indexOf("--pairs");
  const n = i >= 0 ? Number(args[i + 1]) : 1000;
  const host = `t-${process.pid}-h`,
    target = `t-${process.pid}-t`;
  const dir = mkdtempSync(join(tmpdir(), "nsm-bench-datapath-"));
  const cleanup: (() => void)[] = [];
  try {
    ip("netns", "add", host);
    cleanup.push(() => ip("netns", "del", host));
    ip("netns", "add", target);
    cleanup.push(() => ip("netns", "del", target));
    const h = Netns.open({ name: host }),
      t = Netns.open({ name: target });
    cleanup.push(() => {
      h.close();
      t.close();
    });

    const addFile = join(dir, "add"),
      addGroupFile = join(dir, "add-group"),
      delFile = join(dir, "del");
    writeFileSync(
      addFile,
      Array.from({ length: n }, (_, k) => `link add b${k} type veth peer name c${k} netns ${target}\n`).join(""),
    );
    writeFileSync(
      addGroupFile,
      Array.from({ length: n }, (_, k) => `link add b${k} group 7 type veth peer name c${k} netns ${target}\n`).join(
        "",
      ),
    );
    const setGroupFile = join(dir, "set-group");
    writeFileSync(setGroupFile, Array.from({ length: n }, (_, k) => `link set b${k} group 7\n`).join(""));
    writeFileSync(delFile, Array.from({ length: n }, (_, k) => `link del b${k}\n`).join(""));
    const oursCreate = async (group?: number) => {
      const b = h.batch();
      for (let k = 0; k < n; k++)
        b.linkAdd({
          kind: "veth",
          attrs: { name: `b${k}`, ...(group ? { group } : {}) },
          peer: { name: `c${k}`, netns: t },
        });
      const t0 = now();
      const r = await b.commit();
      return { wall: now() - t0, per: r.opMs };
    };
    const oursDelete = async () => {
      const b = h.batch();
      for (let k = 0; k < n; k++) b.linkDel(`b${k}`);
      const t0 = now();
      const r = await b.commit();
      return { wall: now() - t0, per: r.opMs };
    };
    const assertEmpty = (): void => {
      if (linkCount(host) !== 1 || linkCount(target) !== 1)
        throw new Error(`leftover links: host ${linkCount(host)}, target ${linkCount(target)}`);
    };

    // Warm-up both paths (module load, caches, first netdev registrations).
    {
      const b = h.batch();
      for (let k = 0; k < 20; k++)
        b.linkAdd({ kind: "veth", attrs: { name: `w${k}`, group: 9 }, peer: { name: `x${k}`, netns: t } });
      await b.commit();
      await h.batch().linkDelGroup(9).commit();
      assertEmpty();
    }

    const ri = args.indexOf("--rounds");
    const rounds = ri >= 0 ? Number(args[ri + 1]) : 3;
    console.log(`datapath bench: ${n} veth pairs, peer in ${target}, ${rounds} rounds (ours and ip alternate)`);
    // Creation: rounds alternate ours / ip so machine noise hits both; each round's pairs are
    // removed with one group delete (fast), per-pair samples are pooled over the rounds.
    const ocPer: number[] = [],
      ipPer: number[] = [],
      ocWall: number[] = [],
      bcWall: number[] = [];
    let coalesced = 0;
    const groupDel = async (): Promise<void> => {
      await h.batch().linkDelGroup(7).commit();
      assertEmpty();
    };
    for (let r = 0; r < rounds; r++) {
      const oc = await oursCreate(7);
      if (linkCount(target) !== n + 1) throw new Error(`ours created ${linkCount(target) - 1} peers, expected ${n}`);
      ocPer.push(...oc.per);
      ocWall.push(oc.wall);
      await groupDel();
      const echoTimes: number[] = [];
      await ipBatch(["-n", host, "-echo"], addFile, (l, ts) => {
        if (/^\d+: b\d+@/.test(l)) echoTimes.push(ts);
      });
      // iproute2 6.1 prints each echo while handling the next command, so the last one is lost;
      // the gaps between lines are still one command each.
      if (echoTimes.length < n - 1) throw new Error(`ip -echo printed ${echoTimes.length} links, expected ${n - 1}+`);
      const gaps = echoTimes.slice(1).map((x, k) => x - echoTimes[k]!);
      coalesced += gaps.filter((x) => x < 0.02).length;
      ipPer.push(...gaps);
      await ipBatch(["-n", host], setGroupFile); // `ip -echo link add ... group N` prints nothing
      await groupDel();
      bcWall.push(await ipBatch(["-n", host], addGroupFile));
      await groupDel();
    }

    // Deletion one link at a time (the kernel waits an RCU grace period per veth): once each.
    const od = await (async () => {
      await oursCreate();
      return await oursDelete();
    })();
    assertEmpty();
    await ipBatch(["-n", host], addFile);
    const bd = await ipBatch(["-n", host], delFile);
    assertEmpty();

    // Group delete: one message for all pairs (both tools can do it).
    await oursCreate(7);
    let t0 = now();
    await h.batch().linkDelGroup(7).commit();
    const ogd = now() - t0;
    assertEmpty();
    await ipBatch(["-n", host], addGroupFile);
    t0 = now();
    ip("-n", host, "link", "del", "group", "7");
    const bgd = now() - t0;
    assertEmpty();

    const results: CaseResult[] = [
      {
        case: "create/median-per-pair",
        ours: median(ocPer),
        baseline: median(ipPer),
        note: `${rounds}x${n} pairs; baseline from ip -echo line gaps${coalesced ? `, ${coalesced} coalesced reads` : ""}`,
      },
      { case: "create/p99-per-pair", ours: percentile(ocPer, 99), baseline: percentile(ipPer, 99) },
      {
        case: "create/mean-per-pair (wall/N)",
        ours: median(ocWall) / n,
        baseline: median(bcWall) / n,
        note: "median round; baseline: plain ip -batch",
      },
      { case: "delete/median-per-pair", ours: median(od.per), baseline: null, note: "ip prints nothing per delete" },
      { case: "delete/p99-per-pair", ours: percentile(od.per, 99), baseline: null },
      {
        case: "delete/mean-per-pair (wall/N)",
        ours: od.wall / n,
        baseline: bd / n,
        note: "baseline: ip -batch link del",
      },
      {
        case: "delete-group/mean-per-pair",
        ours: ogd / n,
        baseline: bgd / n,
        note: "one RTM_DELLINK by IFLA_GROUP; baseline: ip link del group",
      },
    ];
    writeResults("datapath", { unit: "ms", higherIsBetter: false, results });
  } finally {
    const errors: unknown[] = [];
    for (const f of cleanup.reverse()) {
      try {
        f();
      } catch (e) {
        errors.push(e);
      }
    }
    rmSync(dir, { recursive: true, force: true });
    if (errors.length) console.error(new AggregateError(errors, "bench cleanup failed"));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await run(process.argv.slice(2));
}
