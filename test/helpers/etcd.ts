/**
 * A throwaway etcd for tests and benches: own temp data dir, free loopback ports, killed (and
 * its dir removed) by `stop()`. `restart()` kills it and starts it again on the same ports with
 * the same data (to test clients across an etcd restart).
 *
 *   const etcd = await startEtcd();            // etcd.hostPort = "127.0.0.1:40123"
 *   try { ... `etcd://${etcd.hostPort}` ... } finally { await etcd.stop(); }
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface EtcdProcess {
  readonly hostPort: string;
  readonly dataDir: string;
  readonly pid: number | undefined;
  restart(o?: { downMs?: number }): Promise<void>;
  /** SIGKILL without restarting (stop() still cleans up) */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export const ETCD_BIN = process.env.NSM_ETCD_BIN ?? "/usr/bin/etcd";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

async function healthy(url: string, deadline: number, proc: ChildProcess, log: () => string): Promise<void> {
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`etcd exited (${proc.exitCode ?? proc.signalCode}): ${log()}`);
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(500) });
      if (r.ok && ((await r.json()) as { health?: string }).health === "true") return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`etcd at ${url} not healthy after startup: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startEtcd(o: { timeoutMs?: number } = {}): Promise<EtcdProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), "nsm-etcd-"));
  const [cport, pport] = [await freePort(), await freePort()];
  const client = `http://127.0.0.1:${cport}`,
    peer = `http://127.0.0.1:${pport}`;
  let proc: ChildProcess | undefined;
  let stderr = "";
  const start = async () => {
    stderr = "";
    proc = spawn(
      ETCD_BIN,
      [
        "--name",
        "t",
        "--data-dir",
        join(dataDir, "data"),
        "--listen-client-urls",
        client,
        "--advertise-client-urls",
        client,
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        `t=${peer}`,
        "--initial-cluster-state",
        "new",
        "--log-level",
        "error",
        "--logger",
        "zap",
      ],
      {
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? "" },
      },
    );
    proc.stderr!.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    const p = proc;
    try {
      await healthy(client, Date.now() + (o.timeoutMs ?? 20_000), p, () => stderr);
    } catch (e) {
      await kill();
      throw e;
    }
  };
  const kill = async (sig: NodeJS.Signals = "SIGKILL") => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill(sig);
    await exited;
  };
  try {
    await start();
  } catch (e) {
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  return {
    hostPort: `127.0.0.1:${cport}`,
    dataDir,
    get pid() {
      return proc?.pid;
    },
    async restart(r = {}) {
      await kill();
      if (r.downMs) await new Promise((res) => setTimeout(res, r.downMs));
      await start();
    },
    kill: () => kill(),
    start,
    async stop() {
      await kill("SIGTERM");
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
