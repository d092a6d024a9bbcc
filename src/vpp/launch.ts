/**
 * Starts a private VPP: its own run directory (API socket, stats socket, CLI socket, log) and
 * shared-memory prefix, no DPDK and no hugepages (af_packet, tap, memif, vxlan, wireguard work).
 * The forwarder uses it when NSM_VPP_API_SOCKET is unset; tests start one per test.
 *
 *   const vpp = await launchVpp({ dir: "/run/nsm-ts/vpp-1" });
 *   const api = await VppClient.connect(vpp.apiSocket);
 *   …
 *   await vpp.stop();
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { NsmError, status } from "../tools/errors.js";

/** Where setup installs VPP 24.10 (override with NSM_VPP_BIN). */
export const DEFAULT_VPP_BIN = "/opt/vpp/bin/vpp";

export function vppBinary(): string | undefined {
  const bin = process.env.NSM_VPP_BIN ?? DEFAULT_VPP_BIN;
  if (existsSync(bin)) return bin;
  return undefined;
}

export interface LaunchOptions {
  /** run directory (created): api.sock, stats.sock, cli.sock, vpp.log, vpp.conf */
  dir: string;
  /** shared-memory prefix, unique per instance (default: derived from dir) */
  prefix?: string;
  /** the vpp binary (default NSM_VPP_BIN or /opt/vpp/bin/vpp) */
  bin?: string;
  /** how long to wait for the API socket (default 20 s) */
  timeoutMs?: number;
  /** extra startup.conf text */
  extraConf?: string;
  /** network namespace to run VPP in (a path such as /run/netns/node-1; default: ours) */
  netns?: string;
}

export interface LaunchedVpp {
  readonly dir: string;
  readonly apiSocket: string;
  readonly statsSocket: string;
  readonly cliSocket: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** resolves when the process has exited */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after 3 s; idempotent */
  stop(): Promise<void>;
}

export function vppConf(dir: string, prefix: string, extra = ""): string {
  return [
    `unix { nodaemon cli-listen ${dir}/cli.sock log ${dir}/vpp.log runtime-dir ${dir} }`,
    `api-segment { prefix ${prefix} }`,
    `socksvr { socket-name ${dir}/api.sock }`,
    `statseg { socket-name ${dir}/stats.sock }`,
    "buffers { buffers-per-numa 16384 page-size 4k }",
    "memory { main-heap-size 256M main-heap-page-size 4k }",
    "plugins { plugin dpdk_plugin.so { disable } }",
    extra,
    "",
  ].join("\n");
}

/** the shared-memory prefix launchVpp gives a VPP run in `dir` (its /dev/shm files start with it) */
export const vppPrefixOf = (dir: string): string => `nsm${dir.replace(/[^A-Za-z0-9]/g, "").slice(-24)}`;

async function socketUp(path: string): Promise<boolean> {
  if (!existsSync(path)) return false;
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export async function launchVpp(o: LaunchOptions): Promise<LaunchedVpp> {
  const bin = o.bin ?? vppBinary();
  if (!bin) throw new NsmError(status.FAILED_PRECONDITION, `no VPP binary at ${DEFAULT_VPP_BIN} (nor NSM_VPP_BIN)`);
  mkdirSync(o.dir, { recursive: true });
  const prefix = o.prefix ?? vppPrefixOf(o.dir);
  const conf = join(o.dir, "vpp.conf");
  writeFileSync(conf, vppConf(o.dir, prefix, o.extraConf));
  // setpriv: VPP gets SIGKILL when its parent (us) dies, so a killed forwarder leaves no VPP behind
  const argv = [...(o.netns ? ["nsenter", `--net=${o.netns}`] : []), "setpriv", "--pdeathsig", "KILL", bin, "-c", conf];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    if (stderr.length < 4000) stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  const apiSocket = join(o.dir, "api.sock");
  const deadline = Date.now() + (o.timeoutMs ?? 20_000);
  for (;;) {
    if (gone) {
      const log = existsSync(join(o.dir, "vpp.log")) ? readFileSync(join(o.dir, "vpp.log"), "utf8").slice(-1000) : "";
      throw new NsmError(status.UNAVAILABLE, `VPP (${bin} -c ${conf}) exited at start: ${stderr.trim() || log}`);
    }
    if (await socketUp(apiSocket)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new NsmError(status.UNAVAILABLE, `VPP (${bin} -c ${conf}) did not open ${apiSocket} in time`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = async () => {
    if (gone) return;
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(t);
  };
  return {
    dir: o.dir,
    apiSocket,
    statsSocket: join(o.dir, "stats.sock"),
    cliSocket: join(o.dir, "cli.sock"),
    pid: child.pid!,
    process: child,
    exited,
    stop,
  };
}
