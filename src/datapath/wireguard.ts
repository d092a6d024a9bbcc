/**
 * WireGuard through wireguard-go (this kernel has no wireguard module): one wireguard-go process
 * per interface, started inside the target netns (so its tun device is born there), configured
 * over its UAPI socket (/var/run/wireguard/<ifname>.sock) from TypeScript. Keys come from
 * node:crypto (x25519), base64 like `wg genkey`.
 *
 * ```ts
 * const keys = generateKeyPair();
 * const wg = await WireguardDevice.start({ netns: ns, name: "wg-a" });
 * await wg.configure({ privateKey: keys.privateKey, listenPort: 51820,
 *   peers: [{ publicKey: other, endpoint: "10.0.0.2:51820", allowedIps: ["0.0.0.0/0"] }] });
 * await ns.batch().addrAdd({ link: "wg-a", cidr: "172.16.0.1/31" }).linkSetUp("wg-a").commit();
 * await wg.stop();
 * ```
 * Root only. Needs `wireguard-go` and `nsenter` (util-linux) on PATH.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { DatapathError } from "./errors.js";
import { checkIfname } from "./link.js";
import type { Netns } from "./netns.js";
import { wgUapiSet, wgUapiGet, type WgConfig, type WgPeerInfo, type WgDeviceInfo } from "./wireguard-uapi.js";

export * from "./wireguard-uapi.js";

export interface WireguardStartOptions {
  /** Where the interface lives. The handle must stay open while starting. */
  readonly netns: Netns;
  /** Interface name (≤ 15 bytes); also names the UAPI socket, so unique per host. */
  readonly name: string;
  /** How long to wait for the UAPI socket (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Default "wireguard-go". */
  readonly binary?: string;
  /** Applied right after start. */
  readonly config?: WgConfig;
}

const UAPI_DIR = "/var/run/wireguard";

/** One wireguard-go process serving one interface. */
export class WireguardDevice {
  private exited: Promise<number | null>;
  private stopped = false;
  private stderr = "";

  private constructor(
    readonly name: string,
    readonly netnsName: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      child.once("exit", (code) => resolve(code));
      child.once("error", () => resolve(null)); // spawn failed: there will be no "exit"
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    child.stdout?.resume();
  }

  /** The UAPI socket path. */
  get socketPath(): string {
    return `${UAPI_DIR}/${this.name}.sock`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Starts `wireguard-go -f <name>` inside `netns` (via nsenter on the handle's fd) and waits
   * for its UAPI socket. Throws DatapathError if the name is taken, the binary is missing or
   * the socket does not appear in time; the process is killed then.
   */
  static async start(o: WireguardStartOptions): Promise<WireguardDevice> {
    checkIfname(o.name, "wireguard interface name");
    const sock = `${UAPI_DIR}/${o.name}.sock`;
    if (existsSync(sock)) {
      throw new DatapathError(
        `EEXIST starting wireguard-go ${o.name} in ${o.netns.name}: ${sock} exists (another wireguard-go serves that name)`,
        { code: "EEXIST", errno: 17, syscall: "start", path: sock, netns: o.netns.name },
      );
    }
    // nsenter enters the netns held open by our fd; wireguard-go's tun is then created there.
    const child = spawn("nsenter", [`--net=${o.netns.procPath}`, "--", o.binary ?? "wireguard-go", "-f", o.name], {
      env: { ...process.env, WG_PROCESS_FOREGROUND: "1", LOG_LEVEL: process.env["LOG_LEVEL"] ?? "error" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const dev = new WireguardDevice(o.name, o.netns.name, child);
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
    const deadline = Date.now() + (o.timeoutMs ?? 5000);
    let exitCode: number | null | undefined;
    void dev.exited.then((c) => {
      exitCode = c;
    });
    let failure: Error | undefined;
    void spawnError.then((e) => {
      failure = e;
    });
    for (;;) {
      if (existsSync(sock)) break;
      if (failure || exitCode !== undefined || Date.now() > deadline) {
        await dev.stop().catch(() => undefined);
        const why = failure
          ? failure.message
          : exitCode !== undefined
            ? `exited with ${exitCode}: ${dev.stderr.trim()}`
            : `no UAPI socket after ${o.timeoutMs ?? 5000} ms`;
        throw new DatapathError(
          `starting wireguard-go ${o.name} in ${o.netns.name} failed: ${why}`,
          {
            code: failure ? "ENOENT" : "ETIMEDOUT",
            errno: failure ? 2 : 110,
            syscall: "spawn",
            path: sock,
            netns: o.netns.name,
          },
          { cause: failure },
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    if (o.config) {
      try {
        await dev.configure(o.config);
      } catch (e) {
        await dev.stop().catch(() => undefined);
        throw e;
      }
    }
    return dev;
  }

  /** Applies configuration (keys, port, peers) over UAPI. */
  async configure(c: WgConfig): Promise<void> {
    await wgUapiSet(this.socketPath, c);
  }

  /** Current state: listen port, public key, peers with handshake time and byte counters. */
  async info(): Promise<WgDeviceInfo> {
    return await wgUapiGet(this.socketPath);
  }

  /** Waits until the peer with `publicKey` has completed a handshake (polls UAPI). */
  async waitHandshake(publicKey: string, timeoutMs = 5000): Promise<WgPeerInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = (await this.info()).peers.find((x) => x.publicKey === publicKey);
      if (p && p.lastHandshake > 0) return p;
      if (Date.now() > deadline)
        throw new DatapathError(`no handshake with ${publicKey} on ${this.name} in ${timeoutMs} ms`, {
          code: "ETIMEDOUT",
          errno: 110,
          syscall: "uapi",
          path: this.socketPath,
          netns: this.netnsName,
        });
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops wireguard-go (SIGTERM, then SIGKILL after 2 s); its interface goes with it. Idempotent. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.child.kill("SIGTERM");
      const t = setTimeout(() => this.child.kill("SIGKILL"), 2000);
      await this.exited;
      clearTimeout(t);
    }
    await this.exited;
  }
}
