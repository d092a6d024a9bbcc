/**
 * `nsm <command>` as a child process for tests: its output lines, a bounded wait for a line, its
 * exit. Every process started through `procs(t)` is SIGKILLed at the end of the test if still alive.
 *
 *   const p = procs(t);
 *   const mgr = p.start("nsmgr", { NSM_LISTEN_ON: "unix:///tmp/x/nsm.sock", NSM_REGISTRY_URL: "" });
 *   await mgr.waitFor(/Startup completed/);
 *   assert.ok((await mgr.stop("SIGTERM")).ms < 5000);
 */
import type { TestContext } from "node:test";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";

const bin = new URL("../../bin/nsm.mjs", import.meta.url).pathname;

export interface Proc {
  readonly p: ChildProcess;
  readonly lines: string[];
  /** the first line (past or future) matching `re`; rejects after `ms` or when the process exits first */
  waitFor(re: RegExp, ms?: number): Promise<string>;
  readonly exited: Promise<number | null>;
  /** the exit code, or "running" if the process is still alive after `ms` */
  exitWithin(ms: number): Promise<number | null | "running">;
  /** sends `sig` and waits for the exit: the exit code and how long it took */
  stop(sig?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
  readonly alive: boolean;
}

export interface StartOptions {
  /** run inside this named network namespace (`ip netns exec`) */
  netns?: string;
}

export function procs(t: TestContext) {
  const all: Proc[] = [];
  t.after(async () => {
    for (const x of all.reverse())
      if (x.alive) {
        x.p.kill("SIGKILL");
        await x.exited;
      }
  });
  return {
    start(cmd: string, env: Record<string, string>, o: StartOptions = {}): Proc {
      const argv = [process.execPath, bin, cmd];
      const [file, ...args] = o.netns ? ["ip", "netns", "exec", o.netns, ...argv] : argv;
      const p = spawn(file!, args, {
        // an nsc leaves resolv.conf alone unless a test asks for its DNS proxy
        env: {
          ...process.env,
          NSM_LOG_LEVEL: "INFO",
          NSM_LOG_FORMAT: "json",
          NSM_LOCAL_DNS_SERVER_ENABLED: "false",
          ...env,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const lines: string[] = [];
      const waiters: { re: RegExp; res: (l: string) => void }[] = [];
      let buf = "";
      const onData = (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          lines.push(line);
          for (const w of [...waiters])
            if (w.re.test(line)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.res(line);
            }
        }
      };
      p.stderr!.on("data", onData);
      p.stdout!.on("data", onData);
      let code: number | null | undefined;
      const exited = new Promise<number | null>((r) =>
        p.once("exit", (c) => {
          code = c;
          r(c);
        }),
      );
      const x: Proc = {
        p,
        lines,
        exited,
        get alive() {
          return code === undefined;
        },
        exitWithin(ms) {
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<"running">((r) => (timer = setTimeout(() => r("running"), ms)));
          return Promise.race([exited, late]).finally(() => clearTimeout(timer));
        },
        waitFor(re, ms = 15_000) {
          const hit = lines.find((l) => re.test(l));
          if (hit) return Promise.resolve(hit);
          return new Promise((res, rej) => {
            const timer = setTimeout(
              () => rej(new Error(`${cmd}: no line matching ${re} after ${ms} ms:\n${lines.join("\n")}`)),
              ms,
            );
            waiters.push({
              re,
              res: (l) => {
                clearTimeout(timer);
                res(l);
              },
            });
            void exited.then((c) => {
              clearTimeout(timer);
              rej(new Error(`${cmd} exited (${c}) before ${re}:\n${lines.join("\n")}`));
            });
          });
        },
        async stop(sig = "SIGTERM") {
          const t0 = Date.now();
          if (code !== undefined) return { code, ms: 0 };
          p.kill(sig);
          const c = await exited;
          return { code: c, ms: Date.now() - t0 };
        },
      };
      all.push(x);
      return x;
    },
  };
}

export type Procs = ReturnType<typeof procs>;

/** One node's processes (see {@link startNode}). */
export interface NodeProcs {
  readonly mgrUrl: string;
  readonly fwdSock: string;
  readonly nseSock: string;
  readonly mgr: Proc;
  readonly fwd: Proc;
  readonly nse: Proc;
}

/**
 * One node as processes: `nsm nsmgr` (memory registry), a forwarder (`datapath`, default null)
 * and nse-icmp-responder `icmp` (service icmp, addresses from `cidr`), registered with that
 * nsmgr; sockets in `dir`. Resolves once all three said "Startup completed". `tag` tells a second
 * node apart ("2": nsmgr2, fwd2, icmp2 and their sockets).
 *
 *   const { mgrUrl } = await startNode(procs(t), dir, { cidr: "172.16.1.100/31" });
 */
export async function startNode(
  p: Procs,
  dir: string,
  o: { cidr: string; tag?: string; datapath?: "null" | "kernel"; netns?: string },
): Promise<NodeProcs> {
  const tag = o.tag ?? "";
  const at = { netns: o.netns };
  const mgrUrl = `unix://${join(dir, `nsm${tag}.sock`)}`;
  const fwdSock = join(dir, `fwd${tag}.sock`);
  const nseSock = join(dir, `nse${tag}.sock`);
  const mgr = p.start("nsmgr", { NSM_NAME: `nsmgr${tag}`, NSM_LISTEN_ON: mgrUrl, NSM_REGISTRY_URL: "" }, at);
  await mgr.waitFor(/Startup completed/);
  const datapath = o.datapath ?? "null";
  const fwd = p.start(
    "forwarder",
    {
      NSM_NAME: `fwd${tag}`,
      NSM_LISTEN_ON: `unix://${fwdSock}`,
      NSM_CONNECT_TO: mgrUrl,
      NSM_DATAPATH: datapath,
      ...(datapath === "kernel" ? { NSM_STATE_DIR: join(dir, `fwd${tag}-state`) } : {}),
    },
    at,
  );
  const nse = p.start(
    "nse-icmp-responder",
    {
      NSM_NAME: `icmp${tag}`,
      NSM_SERVICE_NAMES: "icmp",
      NSM_LISTEN_ON: `unix://${nseSock}`,
      NSM_CONNECT_TO: mgrUrl,
      NSM_CIDR_PREFIX: o.cidr,
    },
    at,
  );
  await Promise.all([fwd.waitFor(/Startup completed/), nse.waitFor(/Startup completed/)]);
  return { mgrUrl, fwdSock, nseSock, mgr, fwd, nse };
}

/** Polls `f` every 25 ms until it is true; throws after `ms`. */
export async function until(what: string, f: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`${what}: not after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
