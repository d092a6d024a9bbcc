/** What a mesh is made of and the state file that records it (see index.ts). */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { packagePath } from "../tools/pkg.js";

export const FABRIC_PREFIX = "198.18.0";
export const REGISTRY_PORT = 5002;
export const NSMGR_PORT = 5001;
/** upstream's deployment ports of nsmgr-proxy and registry-proxy-dns */
export const NSMGR_PROXY_PORT = 5004;
export const REGISTRY_PROXY_PORT = 5005;
export const BIN = packagePath("bin", "nsm.mjs");
export const OVS_SH = packagePath("scripts", "ovs.sh");

export interface MeshProcState {
  name: string;
  role: string;
  node?: number;
  pid: number;
  log: string;
  netns: string;
  /** how to start it again (the supervisor and `Mesh.restart` use it): `nsm <cmd>` with this env on top of the mesh's */
  spec?: { cmd: string; env: Record<string, string>; gid?: number };
  /** times it was restarted (by the supervisor or `Mesh.restart`) */
  restarts?: number;
}

/** Everything a mesh made; enough to remove it from another process (`nsm down`). */
export interface MeshState {
  id: string;
  dir: string;
  stateFile: string;
  fabric: string;
  netns: string[];
  procs: MeshProcState[];
  /** sockets outside `dir` we created (e.g. the default nsmgr socket) */
  files: string[];
  nodes: { netns: string; ip: string; nsmgrUrl: string; nsmgrSock: string; forwarderStateDir: string }[];
  registryUrl: string;
  /**
   * the first domain of several (src/mesh/domains.ts) also owns what joins them: the router netns,
   * the dnsmasq serving their records, and the other domains' state files (removed with this one)
   */
  linked?: { netns: string[]; dnsmasq?: { pid: number; log: string }; states: string[]; dir?: string };
  /** a domain of several (NSM_UP_DOMAINS): its name and its interdomain gateways on the fabric */
  interdomain?: { domain: string; nsmgrProxyUrl: string; registryProxyUrl: string };
  /** private Open vSwitch instances (scripts/ovs.sh dirs) of an ovs-datapath mesh */
  ovsDirs?: string[];
  /** environment every process gets on top of the starter's (log level, MeshOptions.env) */
  env?: Record<string, string>;
  /** the supervisor (`nsm supervise`) of a detached mesh; `nsm down` stops it first */
  supervisor?: { pid: number; log: string };
}

export interface MeshOptions {
  /** name prefix of every netns and link (≤ 9 chars keeps link names ≤ 15); tests use `t-<pid>-<n>` */
  id: string;
  /** where sockets, logs and forwarder state go (created; removed by close) */
  dir: string;
  /** state file (default `<dir>/mesh.json`) */
  stateFile?: string;
  nodes?: number;
  /** the first three octets of the fabric's /24 (default 198.18.0): node i is .<i+1>, the fabric .254 */
  prefix?: string;
  /**
   * make this mesh one domain of several: its registry sends name@domain calls to an nsmgr-proxy
   * on the fabric, beside a registry-proxy-dns asking `dnsServer` and a map-ip over the node list;
   * nodes route everything else through the fabric (joined to the other domains by src/mesh/domains.ts)
   */
  interdomain?: { domain: string; dnsServer: string };
  /** extra listen URLs for node i's nsmgr (nsm up: the default socket on node 0) */
  nsmgrExtraListen?: (node: number) => string[];
  /** NSM_LOG_LEVEL of every process (default INFO) */
  logLevel?: string;
  /** extra environment for every process */
  env?: Record<string, string>;
  /** extra environment for the process named `name` (registry, nsmgr-<i>, forwarder-<i>, the NSE's name) */
  envFor?: (name: string) => Record<string, string> | undefined;
  /** the group id the process named `name` runs with (nsm up with SPIRE: its workload selector) */
  gidFor?: (name: string) => number | undefined;
  /** called as each startup step begins (`nsm up` prints them) */
  progress?: (step: string) => void;
  /** detach processes (new session, not children we wait for): `nsm up` */
  detached?: boolean;
  /** forwarder NSM_STALE_TIMEOUT (default 30s) */
  forwarderStaleTimeout?: string;
  /** how long a process may take to log its startup (default 20 s; several domains starting at once on a busy host need more) */
  startupWaitMs?: number;
  /**
   * the forwarders' NSM_DATAPATH (default kernel); ovs: a private OVS per node (vswitchd in the
   * node netns, eth0 attached to its bridge); vpp: each forwarder starts its own VPP in its node
   * netns (an af_packet uplink on eth0); memif: the kernel datapath plus MEMIF sides
   */
  datapath?: "kernel" | "ovs" | "memif" | "vpp";
}

export interface MeshProc {
  readonly name: string;
  readonly pid: number;
  readonly netns: string;
  readonly log: string;
  /** the log so far */
  output(): string;
  /** resolves with the first log line matching `re` (polls the log file); rejects if the process exits first or after `ms` */
  waitFor(re: RegExp, ms?: number, from?: number): Promise<string>;
  /** SIGTERM (or `sig`) and wait for the exit (SIGKILL after 5 s) */
  stop(sig?: NodeJS.Signals): Promise<void>;
  readonly exited: boolean;
}

export interface Mesh {
  readonly state: MeshState;
  readonly procs: Map<string, MeshProc>;
  /** a fresh workload netns (named `<id>-w<n>`) */
  workloadNetns(): Promise<string>;
  /** `nsm nse-icmp-responder` in a new workload netns on `node` */
  startNse(
    node: number,
    o: {
      name: string;
      cidr: string;
      services?: string[];
      labels?: string;
      payload?: string;
      env?: Record<string, string>;
    },
  ): Promise<MeshProc & { workload: string }>;
  /** `nsm nsc` in a new (or the given) workload netns on `node`; resolves when it started (not connected: waitFor(/connected to/)) */
  startNsc(
    node: number,
    o: { name: string; services: string[]; netns?: string; env?: Record<string, string> },
  ): Promise<MeshProc & { workload: string }>;
  /** `nsm ipam-vl3` (in the fabric netns) on a unix socket; resolves with it and its URL */
  startIpam(o: { prefix: string; clientPrefixLen?: number }): Promise<MeshProc & { url: string }>;
  /** `nsm nse-vl3` in a new workload netns on `node`, its prefix from `prefixServerUrl` */
  startVl3Nse(
    node: number,
    o: { name: string; prefixServerUrl: string; services?: string[]; env?: Record<string, string> },
  ): Promise<MeshProc & { workload: string }>;
  /** (re)starts node i's forwarder (after a kill) */
  startForwarder(node: number): Promise<MeshProc>;
  /** (re)starts node i's nsmgr (after a kill), same sockets and name */
  startNsmgr(node: number): Promise<MeshProc>;
  /**
   * Starts process `name` again as it was started (same netns, command and environment, `env` on
   * top), replacing its entry in the state file; waits for its startup line, except for an NSC.
   * The caller kills it first (`procs.get(name).stop("SIGKILL")`).
   */
  restart(name: string, o?: { env?: Record<string, string>; waitMs?: number }): Promise<MeshProc>;
  /** stops every process and removes every namespace, link, socket and file; reports every failure */
  close(): Promise<void>;
}

/** Writes the state file atomically (write + rename): a reader never sees half of it. */
export function saveState(s: MeshState): void {
  const tmp = `${s.stateFile}.tmp`;
  writeFileSync(tmp, JSON.stringify(s, null, 2));
  renameSync(tmp, s.stateFile);
}

/** Reads a mesh state file (for `nsm down`); undefined when there is none. */
export function readMeshState(file: string): MeshState | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as MeshState;
  } catch {
    return undefined;
  }
}
