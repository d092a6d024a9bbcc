/**
 * A private Open vSwitch for tests (root only): ovsdb-server + ovs-vswitchd as foreground
 * children, everything (db, sockets, pid/log files) in a fresh temp dir, vswitchd inside its own
 * network namespace `t-<pid>-ovs<n>` so the bridges' tap devices never appear in the root
 * namespace and vanish with it. `stop()` kills both by pid, deletes the namespace and the dir,
 * and reports every failed step; it is safe to call twice and after a failed start.
 *
 *   const ovs = await startOvs();
 *   t.after(() => ovs.stop());
 *   const db = await OvsdbClient.connect(ovs.dbTarget);
 *   ovs.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev");
 *   ovs.ofctl("dump-flows", "br0");     // -O OpenFlow13 against the private instance
 *
 * Humans: scripts/ovs.sh start|stop <dir> does the same with detached daemons.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const ovsAvailable = (): boolean =>
  ["/usr/sbin/ovsdb-server", "/usr/sbin/ovs-vswitchd", "/usr/bin/ovsdb-tool"].every((p) => existsSync(p));
export const SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema";

export interface StartOvsOptions {
  /** run ovs-vswitchd in this existing netns (not deleted by stop); default: a fresh one */
  netns?: string;
  /** start ovs-vswitchd too (default true) */
  vswitchd?: boolean;
  /** also listen for OVSDB on tcp:127.0.0.1:<port> (ovsdb-server runs in the root netns) */
  tcpPort?: number;
}

export interface OvsInstance {
  readonly dir: string;
  /** the OVSDB unix socket path */
  readonly dbSock: string;
  /** `unix:<dbSock>`, for OvsdbClient.connect and `ovs-vsctl --db=` */
  readonly dbTarget: string;
  /** the namespace ovs-vswitchd runs in (its taps and the ports' devices live there) */
  readonly netns: string;
  readonly env: NodeJS.ProcessEnv;
  /** the OpenFlow management socket of a bridge (what ovs-ofctl uses) */
  mgmt(bridge: string): string;
  /** `ovs-vsctl --db=<ours> --timeout=10 ...args` (sync; throws with stderr) */
  vsctl(...args: string[]): string;
  /** `ovs-ofctl -O OpenFlow13 <cmd> <bridge's mgmt socket> ...rest` */
  ofctl(cmd: string, bridge: string, ...rest: string[]): string;
  readonly vswitchdPid: number | undefined;
  readonly ovsdbPid: number | undefined;
  /** kill -TERM ovs-vswitchd (by pid), wait for it, start it again (flows are lost) */
  restartVswitchd(): Promise<void>;
  /** kill -TERM ovsdb-server, wait, start it again on the same db file and socket */
  restartOvsdb(): Promise<void>;
  stopOvsdb(): Promise<void>;
  startOvsdb(): Promise<void>;
  stop(): Promise<void>;
}

let seq = 0;

interface Daemon {
  child: ChildProcess;
  exited: Promise<void>;
  stderrFile: string;
  spawnError?: string;
}

/**
 * stderr goes to a file, not a pipe: a caller that blocks the event loop (execFileSync in a
 * loop) would leave a pipe undrained, and ovs-vswitchd blocks once its console writes fill it.
 */
function startDaemon(cmd: string[], env: NodeJS.ProcessEnv, stderrFile: string): Daemon {
  const fd = openSync(stderrFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(cmd[0]!, cmd.slice(1), { env, stdio: ["ignore", "ignore", fd] });
  } finally {
    closeSync(fd);
  }
  const d: Daemon = { child, exited: Promise.resolve(), stderrFile };
  d.exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once("exit", () => resolve());
    child.once("error", (e) => {
      d.spawnError = String(e);
      resolve();
    });
  });
  return d;
}

async function stopDaemon(d: Daemon | undefined): Promise<void> {
  if (!d || d.child.exitCode !== null || d.child.signalCode !== null || d.child.pid === undefined) return;
  process.kill(d.child.pid, "SIGTERM");
  const t = setTimeout(() => {
    try {
      process.kill(d.child.pid!, "SIGKILL");
    } catch {
      /* gone */
    }
  }, 3_000);
  await d.exited;
  clearTimeout(t);
}

/** Waits until `path` exists or the daemon dies (polling: the daemons give no other signal). */
async function waitForFile(path: string, d: Daemon, what: string, logFile: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (d.child.exitCode !== null || d.child.signalCode !== null) {
      const log = existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-10).join("\n") : "";
      const err = existsSync(d.stderrFile) ? readFileSync(d.stderrFile, "utf8").slice(-2000) : "";
      throw new Error(
        `${what} exited (${d.child.exitCode ?? d.child.signalCode}) before creating ${path}: ${d.spawnError ?? ""}${err}\n${log}`,
      );
    }
    if (Date.now() > until) throw new Error(`${what}: ${path} did not appear within ${timeoutMs} ms`);
    await sleep(5);
  }
}

export async function startOvs(o: StartOvsOptions = {}): Promise<OvsInstance> {
  const dir = mkdtempSync(join(tmpdir(), `nsm-ovs-${process.pid}-`));
  const ownNetns = o.netns === undefined;
  const netns = o.netns ?? `t-${process.pid}-ovs${seq++}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OVS_RUNDIR: dir,
    OVS_DBDIR: dir,
    OVS_LOGDIR: dir,
    OVS_SYSCONFDIR: dir,
  };
  const dbFile = join(dir, "conf.db");
  const dbSock = join(dir, "db.sock");
  const dbTarget = `unix:${dbSock}`;
  let ovsdb: Daemon | undefined;
  let vswitchd: Daemon | undefined;
  let netnsMade = false;
  let stopped = false;

  const startOvsdb = async (): Promise<void> => {
    const remotes = [`--remote=punix:${dbSock}`, ...(o.tcpPort ? [`--remote=ptcp:${o.tcpPort}:127.0.0.1`] : [])];
    ovsdb = startDaemon(
      [
        "ovsdb-server",
        dbFile,
        ...remotes,
        `--pidfile=${join(dir, "ovsdb-server.pid")}`,
        `--unixctl=${join(dir, "ovsdb-server.ctl")}`,
        `--log-file=${join(dir, "ovsdb-server.log")}`,
      ],
      env,
      join(dir, "ovsdb-server.stderr"),
    );
    await waitForFile(dbSock, ovsdb, "ovsdb-server", join(dir, "ovsdb-server.log"));
  };
  const stopOvsdb = async (): Promise<void> => {
    await stopDaemon(ovsdb);
    ovsdb = undefined;
  };
  const startVswitchd = async (): Promise<void> => {
    const ctl = join(dir, "ovs-vswitchd.ctl");
    rmSync(ctl, { force: true });
    vswitchd = startDaemon(
      [
        "ip",
        "netns",
        "exec",
        netns,
        "ovs-vswitchd",
        dbTarget,
        `--pidfile=${join(dir, "ovs-vswitchd.pid")}`,
        `--unixctl=${ctl}`,
        `--log-file=${join(dir, "ovs-vswitchd.log")}`,
      ],
      env,
      join(dir, "ovs-vswitchd.stderr"),
    );
    await waitForFile(ctl, vswitchd, "ovs-vswitchd", join(dir, "ovs-vswitchd.log"));
  };
  const vsctl = (...args: string[]): string =>
    execFileSync("ovs-vsctl", [`--db=${dbTarget}`, "--timeout=10", ...args], {
      env,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const errors: unknown[] = [];
    const step = async (f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    };
    // without our own netns the bridges' persistent taps would outlive vswitchd: remove bridges first
    if (!ownNetns && vswitchd && ovsdb) {
      await step(() => {
        for (const br of vsctl("list-br").split("\n").filter(Boolean)) vsctl("del-br", br);
      });
    }
    await step(() => stopDaemon(vswitchd));
    await step(() => stopDaemon(ovsdb));
    if (netnsMade)
      await step(() => execFileSync("ip", ["netns", "del", netns], { stdio: ["ignore", "ignore", "pipe"] }));
    await step(() => rmSync(dir, { recursive: true, force: true }));
    if (errors.length) throw new AggregateError(errors, `stopping OVS in ${dir}: ${errors.length} step(s) failed`);
  };

  try {
    execFileSync("ovsdb-tool", ["create", dbFile, SCHEMA], { env, stdio: ["ignore", "ignore", "pipe"] });
    await startOvsdb();
    vsctl("--no-wait", "init");
    if (ownNetns) {
      execFileSync("ip", ["netns", "add", netns], { stdio: ["ignore", "ignore", "pipe"] });
      netnsMade = true;
      execFileSync("ip", ["-n", netns, "link", "set", "lo", "up"]);
    }
    if (o.vswitchd ?? true) await startVswitchd();
  } catch (e) {
    await stop().catch(() => {
      /* report the start failure */
    });
    throw e;
  }

  return {
    dir,
    dbSock,
    dbTarget,
    netns,
    env,
    mgmt: (bridge) => join(dir, `${bridge}.mgmt`),
    vsctl,
    ofctl: (cmd, bridge, ...rest) =>
      execFileSync(
        "ovs-ofctl",
        ["-O", "OpenFlow13", "--timeout=10", cmd, `unix:${join(dir, `${bridge}.mgmt`)}`, ...rest],
        { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
      ),
    get vswitchdPid() {
      return vswitchd?.child.pid;
    },
    get ovsdbPid() {
      return ovsdb?.child.pid;
    },
    restartVswitchd: async () => {
      await stopDaemon(vswitchd);
      await startVswitchd();
    },
    restartOvsdb: async () => {
      await stopOvsdb();
      await startOvsdb();
    },
    stopOvsdb,
    startOvsdb,
    stop,
  };
}
