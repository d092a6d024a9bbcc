/**
 * bench/datapath: create N (default 1000) veth pairs with one end directly in a target netns,
 * then delete them — ours (src/datapath, one batch = one native call) vs `ip -batch` in the
 * same run, idle and with both cores loaded. Root only. Writes bench/results/datapath.json
 * (+ .svg) via bench/lib.ts.
 *
 *   npm run bench -- datapath [--pairs 1000] [--rounds 3]
 *
 * Both tools build the same batch (`link add bK group 7 type veth peer name cK netns T`). Per-pair
 * times for both are taken at one point by one observer: `ip -ts monitor link` in the target
 * netns timestamps each peer's RTM_NEWLINK; a pair's time is the gap to the previous peer, so it
 * holds the kernel's work and whatever the tool does between two creates. Median, p99 and max
 * are compared like for like; the mean is wall time / N of the whole batch (ours: commit() to
 * its resolve; ip: spawn to exit). `loaded/` cases run the same rounds while one busy-loop
 * process per CPU (`sh -c 'while :; do :; done'` under taskset, started and killed here)
 * competes with both. `ip` has no per-command output on delete, so delete has means only, plus a
 * group delete.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Netns } from "../src/datapath/index.js";
import { median, now, percentile, writeResults, type CaseResult } from "./lib.js";

const ip = (...a: string[]): string => execFileSync("ip", a, { encoding: "utf8" });

async function ipBatch(args: string[], file: string): Promise<number> {
  const t0 = now();
  const child = spawn("ip", [...args, "-batch", file], { stdio: ["ignore", "ignore", "inherit"] });
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  if (code !== 0) throw new Error(`ip ${args.join(" ")} -batch exited with ${code}`);
  return now() - t0;
}

/**
 * `ip -ts monitor link` in `ns` (line-buffered); `stop(n)` waits until the peers c0..c<n-1> were
 * all seen (5 s at most), ends the monitor and returns the gaps (ms) between consecutive peers.
 */
async function monitor(ns: string): Promise<{ stop(n: number): Promise<number[]> }> {
  const child = spawn("stdbuf", ["-oL", "ip", "-n", ns, "-ts", "monitor", "link"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const seen = new Map<string, number>();
  let rest = "";
  let wake: (() => void) | undefined;
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    const lines = (rest + d).split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) {
      const m = /^\[(\d+)-(\d+)-(\d+)T(\d+):(\d+):([\d.]+)\] \d+: (c\d+)@/.exec(l);
      if (!m || seen.has(m[7]!)) continue;
      seen.set(m[7]!, (Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6])) * 1000);
    }
    wake?.();
  });
  await new Promise((r) => setTimeout(r, 150)); // the monitor has bound its socket
  return {
    async stop(n) {
      const until = Date.now() + 5000;
      while (seen.size < n && Date.now() < until) await new Promise<void>((r) => ((wake = r), setTimeout(r, 50)));
      child.kill("SIGTERM");
      if (seen.size < n) throw new Error(`ip monitor saw ${seen.size} peers, expected ${n}`);
      const t = [...seen.values()].sort((a, b) => a - b);
      return t.slice(1).map((x, k) => x - t[k]!);
    },
  };
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
    // Creation: rounds alternate ours / ip so machine noise hits both; both build the same batch
    // (name, group 7, veth, peer name, peer netns) and each round's pairs are removed with one
    // group delete. Per-pair times for both come from one observer: `ip -ts monitor link` in the
    // target netns timestamps each peer's RTM_NEWLINK notification; a pair's time is the gap to
    // the previous one (n-1 gaps per round), so whatever either tool does between two creates
    // counts, measured at the same point for both.
    const createRounds = async (label: string) => {
      const oPer: number[] = [],
        bPer: number[] = [],
        oWall: number[] = [],
        bWall: number[] = [],
        oAck: number[] = [];
      for (let r = 0; r < rounds; r++) {
        let mon = await monitor(target);
        const oc = await oursCreate(7);
        oPer.push(...(await mon.stop(n)));
        if (linkCount(target) !== n + 1) throw new Error(`ours created ${linkCount(target) - 1} peers, expected ${n}`);
        oWall.push(oc.wall);
        oAck.push(...oc.per);
        await groupDel();
        mon = await monitor(target);
        bWall.push(await ipBatch(["-n", host], addGroupFile));
        bPer.push(...(await mon.stop(n)));
        await groupDel();
      }
      return [
        {
          case: `${label}create/median-per-pair`,
          ours: median(oPer),
          baseline: median(bPer),
          note: `${rounds}x${n} pairs; gaps between peers' RTM_NEWLINK seen by ip monitor in the target netns, both tools; ours send-to-ack median ${median(oAck).toFixed(3)} ms`,
        },
        { case: `${label}create/p99-per-pair`, ours: percentile(oPer, 99), baseline: percentile(bPer, 99) },
        { case: `${label}create/max-per-pair`, ours: Math.max(...oPer), baseline: Math.max(...bPer) },
        {
          case: `${label}create/mean-per-pair (wall/N)`,
          ours: median(oWall) / n,
          baseline: median(bWall) / n,
          note: "median round; ours: commit() to resolve; baseline: ip -batch spawn to exit",
        },
      ];
    };
    const groupDel = async (): Promise<void> => {
      await h.batch().linkDelGroup(7).commit();
      assertEmpty();
    };
    const createIdle = await createRounds("");
    // The same with both cores busy: one busy-loop process pinned to each CPU, started and
    // killed by the bench (SCHED_OTHER, same priority as ours and ip).
    const loaders = cpus().map((_, c) =>
      spawn("taskset", ["-c", String(c), "sh", "-c", "while :; do :; done"], { stdio: "ignore" }),
    );
    cleanup.push(() => {
      for (const l of loaders) if (l.exitCode === null && l.signalCode === null) l.kill("SIGKILL");
    });
    let createLoaded: CaseResult[];
    try {
      await new Promise((r) => setTimeout(r, 300));
      createLoaded = await createRounds("loaded/");
    } finally {
      for (const l of loaders) l.kill("SIGKILL");
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
      ...createIdle,
      ...createLoaded,
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
