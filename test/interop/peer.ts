/**
 * The upstream test peer (test/interop/peer: networkservicemesh/sdk v1.13.2) as a child process.
 * `peerBinary()` builds it once per source hash (test/interop/build-peer.sh, also run by
 * `npm run setup`), `startPeer()` runs one component and reads its line protocol:
 * "READY <url>", "CONN <json>", "CLOSED <ms>", "ERROR <text>".
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

const here = dirname(fileURLToPath(import.meta.url));

export function goAvailable(): boolean {
  try {
    execFileSync("go", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The peer binary for the current sources (built here when missing; minutes on a cold module cache). */
export function peerBinary(): string {
  const h = createHash("sha256");
  for (const f of ["go.mod", "go.sum", "main.go"]) h.update(readFileSync(join(here, "peer", f)));
  const bin = join(here, ".bin", `peer-${h.digest("hex").slice(0, 16)}`);
  if (existsSync(bin)) return bin;
  return execFileSync("bash", [join(here, "build-peer.sh")], { encoding: "utf8", timeout: 15 * 60_000 }).trim();
}

export class Peer {
  readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;
  stderr = "";

  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on("line", (l) => {
      this.lines.push(l);
      for (const w of [...this.waiters]) w();
    });
    proc.stderr!.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000);
    });
    this.exited = new Promise((r) => proc.once("exit", (code) => r(code)));
  }

  /** The first line after index `from` matching `re`; rejects after `ms` with the peer's stderr tail. */
  async line(re: RegExp, ms = 15_000, from = 0): Promise<string> {
    const found = () => this.lines.slice(from).find((l) => re.test(l));
    const hit = found();
    if (hit) return hit;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `peer: no line matching ${re} in ${ms} ms; stdout: ${this.lines.join(" | ")}; stderr: ${this.stderr.slice(-2000)}`,
          ),
        );
      }, ms);
      const check = () => {
        const l = found();
        if (!l) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(l);
      };
      this.waiters.add(check);
    });
  }

  send(cmd: string): void {
    this.proc.stdin!.write(`${cmd}\n`);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 3000);
    await this.exited;
    clearTimeout(t);
  }
}

/** Runs the peer with `args` (in netns `netns` when given; `env` added to ours). */
export function startPeer(bin: string, args: string[], o: { netns?: string; env?: Record<string, string> } = {}): Peer {
  const cmd = o.netns ? "ip" : bin;
  const argv = o.netns ? ["netns", "exec", o.netns, bin, ...args] : args;
  return new Peer(spawn(cmd, argv, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...o.env } }));
}
