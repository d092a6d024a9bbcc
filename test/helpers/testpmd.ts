/**
 * DPDK testpmd as a memif peer for tests and benchmarks (DPDK's net_memif driver; docs/memif.md). Runs
 * interactively (`-i`) under `stdbuf -oL` so `show port stats 0` can be read while it forwards.
 * stop() sends SIGINT, then SIGKILL after a grace period, and removes its /var/run/dpdk/<prefix>.
 * Root only (DPDK EAL).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";

export interface TestpmdOptions {
  readonly role: "server" | "client";
  /** Socket file path (socket-abstract=no). */
  readonly socket: string;
  readonly id?: number;
  readonly forwardMode: "rxonly" | "txonly" | "io" | "macswap";
  /** `-l` list, e.g. "0,1" (default), and the main lcore (default: the first). */
  readonly lcores?: string;
  readonly mainLcore?: number;
  /** txonly frame length (default 64). */
  readonly txPktLen?: number;
  /** rsize (log2 of ring size, default 10) and bsize (default 2048). */
  readonly log2Ring?: number;
  readonly bufferSize?: number;
  /** A second memif port (port 1, same role, id 0) on this socket path, for `io` between two ports. */
  readonly socket2?: string;
  /** Start forwarding at once (default true). */
  readonly autoStart?: boolean;
  /** Give up waiting for the prompt after this (default 20000 ms). */
  readonly startTimeoutMs?: number;
}

export interface TestpmdPortStats {
  readonly rxPackets: number;
  readonly rxBytes: number;
  readonly txPackets: number;
  readonly txBytes: number;
}

let seq = 0;

export function testpmdAvailable(): boolean {
  return spawnSync("sh", ["-c", "command -v dpdk-testpmd && command -v stdbuf"], { stdio: "ignore" }).status === 0;
}

export class Testpmd {
  readonly prefix: string;
  readonly proc: ChildProcess;
  #out = "";
  #exited: Promise<number | null>;
  #exitCode: number | null | undefined;

  private constructor(readonly o: TestpmdOptions) {
    this.prefix = `nsmt-${process.pid}-${seq++}`;
    const lcores = o.lcores ?? "0,1";
    const main = o.mainLcore ?? Number(lcores.split(/[,-]/)[0]);
    const vdev = [
      `net_memif0,role=${o.role},id=${o.id ?? 0},socket=${o.socket},socket-abstract=no`,
      o.log2Ring !== undefined ? `rsize=${o.log2Ring}` : "",
      o.bufferSize !== undefined ? `bsize=${o.bufferSize}` : "",
    ]
      .filter(Boolean)
      .join(",");
    const args = [
      "-oL",
      "dpdk-testpmd",
      "-l",
      lcores,
      "--main-lcore",
      String(main),
      "--no-huge",
      "-m",
      "512",
      "--no-pci",
      `--file-prefix=${this.prefix}`,
      `--vdev=${vdev}`,
      ...(o.socket2
        ? [
            `--vdev=net_memif1,role=${o.role},id=0,socket=${o.socket2},socket-abstract=no` +
              (o.log2Ring !== undefined ? `,rsize=${o.log2Ring}` : "") +
              (o.bufferSize !== undefined ? `,bsize=${o.bufferSize}` : ""),
          ]
        : []),
      "--",
      "-i",
      `--forward-mode=${o.forwardMode}`,
      "--total-num-mbufs=16384",
      ...((o.autoStart ?? true) ? ["--auto-start"] : []),
      ...(o.txPktLen ? [`--txpkts=${o.txPktLen}`] : []),
    ];
    this.proc = spawn("stdbuf", args, { stdio: ["pipe", "pipe", "pipe"] });
    this.proc.stdout!.setEncoding("utf8").on("data", (d: string) => {
      this.#out += d;
    });
    this.proc.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.#out += d;
    });
    this.#exited = new Promise((resolve) =>
      this.proc.once("exit", (code) => {
        this.#exitCode = code;
        resolve(code);
      }),
    );
  }

  /** Starts testpmd and waits for its first prompt (port configured, forwarding if autoStart). */
  static async start(o: TestpmdOptions): Promise<Testpmd> {
    const t = new Testpmd(o);
    try {
      await t.#waitFor(/testpmd> /, 0, o.startTimeoutMs ?? 20_000);
    } catch (e) {
      await t.stop();
      throw e;
    }
    return t;
  }

  /** Everything it printed so far (for assertion messages). */
  get output(): string {
    return this.#out;
  }

  async #waitFor(re: RegExp, from: number, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.#out.slice(from));
      if (m) return m;
      if (this.#exitCode !== undefined)
        throw new Error(`testpmd exited (${this.#exitCode}) before /${re.source}/:\n${this.#out.slice(-3000)}`);
      if (Date.now() > deadline)
        throw new Error(`testpmd: no /${re.source}/ after ${timeoutMs} ms:\n${this.#out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Sends one interactive command and returns its output (up to the next prompt). */
  async cmd(line: string, timeoutMs = 5000): Promise<string> {
    const from = this.#out.length;
    this.proc.stdin!.write(line + "\n");
    const m = await this.#waitFor(/testpmd> /, from + 1, timeoutMs);
    return this.#out.slice(from, from + 1 + m.index);
  }

  /** Port `port`'s counters (DPDK resets them when the memif link drops). */
  async portStats(port = 0): Promise<TestpmdPortStats> {
    const out = await this.cmd(`show port stats ${port}`);
    const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
    const s = {
      rxPackets: num(/RX-packets:\s+(\d+)/),
      rxBytes: num(/RX-bytes:\s+(\d+)/),
      txPackets: num(/TX-packets:\s+(\d+)/),
      txBytes: num(/TX-bytes:\s+(\d+)/),
    };
    if (Number.isNaN(s.rxPackets)) throw new Error(`testpmd: cannot parse port stats:\n${out}`);
    return s;
  }

  /** Polls port stats until `pred` holds. */
  async waitStats(pred: (s: TestpmdPortStats) => boolean, timeoutMs = 10_000): Promise<TestpmdPortStats> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.portStats();
      if (pred(s)) return s;
      if (Date.now() > deadline)
        throw new Error(`testpmd: stats condition not met after ${timeoutMs} ms: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits until the memif link is up (testpmd logs "Link Up" events poorly; use port info). */
  async waitLinkUp(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const out = await this.cmd("show port info 0");
      if (/Link status:\s+up/.test(out)) return;
      if (Date.now() > deadline) throw new Error(`testpmd: link not up after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGINT, then SIGKILL after `graceMs`; removes the EAL runtime dir. Safe to call twice. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.#exitCode === undefined) {
      this.proc.kill("SIGINT");
      const t = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
      await this.#exited;
      clearTimeout(t);
    }
    this.proc.stdin?.destroy();
    const dir = `/var/run/dpdk/${this.prefix}`;
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }

  /** SIGKILL at once (a peer dying mid-traffic). */
  async kill(): Promise<void> {
    if (this.#exitCode === undefined) {
      this.proc.kill("SIGKILL");
      await this.#exited;
    }
    await this.stop();
  }
}
