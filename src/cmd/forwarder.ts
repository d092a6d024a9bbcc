/**
 * `nsm forwarder`: the forwarder's control plane with a pluggable datapath (NSM_DATAPATH). It
 * registers with its nsmgr as an NSE of the forwarder service (labels p2p=true + NSM_LABELS).
 */
import { kernelBackend } from "../forwarder/backends/kernel/index.js";
import { memifBackend } from "../forwarder/backends/memif/index.js";
import { nullBackend } from "../forwarder/backends/null/index.js";
import { ovsBackend } from "../forwarder/backends/ovs/index.js";
import { vppBackend } from "../forwarder/backends/vpp/index.js";
import type { DatapathBackend } from "../forwarder/backend.js";
import { createForwarder } from "../networkservice/components.js";
import { COMMON_HELP, readCommon } from "../networkservice/cmdutil.js";
import { parseAddr } from "../networkservice/utils/ip.js";
import { ConfigError, envReader, type Env } from "../tools/env.js";
import { readTelemetryConfig, startTelemetry, TELEMETRY_HELP } from "../tools/telemetry/index.js";
import { newLogger, type Logger } from "../tools/log.js";
import { lifecycle } from "./lifecycle.js";

export const DATAPATHS = ["kernel", "ovs", "memif", "vpp", "null"] as const;
/** the tunnels the kernel backend makes between nodes */
export const REMOTE_MECHANISMS = ["VXLAN", "WIREGUARD"] as const;

export const ENV_HELP = `nsm forwarder — forwarder (control plane + datapath backend)

  NSM_NAME           forwarder                                        registration and segment name
  NSM_LISTEN_ON      unix:///var/lib/networkservicemesh/<name>.sock   listen URL
  NSM_CONNECT_TO     unix:///var/lib/networkservicemesh/nsm.io.sock   the local nsmgr
  NSM_NSNAME         forwarder                                        service to register under
  NSM_LABELS         (none)                                           extra labels k:v,... (p2p:true is always set)
  NSM_DIAL_TIMEOUT   750ms                                            dial timeout
  NSM_DATAPATH       kernel                                           ${DATAPATHS.join(" | ")} (memif: kernel plus MEMIF sides on the native memif loop)
  NSM_TUNNEL_IP      (first global IPv4 address in our netns)         our end of vxlan/wireguard tunnels
  NSM_VXLAN_PORT     4789                                             vxlan UDP port (the same on every node)
  NSM_WIREGUARD_PORT 51820                                            first wireguard-go UDP port (one per connection)
  NSM_REMOTE_MECHANISMS (IP payload: WIREGUARD,VXLAN; Ethernet: VXLAN) kernel/memif: remote mechanisms offered, best first (${REMOTE_MECHANISMS.join(", ")}; WIREGUARD carries IP payload only)
  NSM_STATE_DIR      /run/nsm-ts/forwarder-<name>                     per-connection records: cleanup after a restart
  NSM_STALE_TIMEOUT  30s                                              time a restarted forwarder waits for re-requests before removing the rest
  NSM_OVS_DB         unix:/var/run/openvswitch/db.sock                ovs: OVSDB socket (OpenFlow: $OVS_RUNDIR/<bridge>.mgmt)
  NSM_BRIDGE_NAME    br-nsm                                           ovs: the bridge (userspace netdev datapath)
  NSM_OVS_UPLINK     (none)                                           ovs: device to attach to the bridge for vxlan (its addresses move to the bridge)
  NSM_VPP_API_SOCKET (none: start our own VPP in <NSM_STATE_DIR>/vpp) vpp: a running VPP's API socket (stats: stats.sock beside it)
${TELEMETRY_HELP}
${COMMON_HELP}`;

export function readConfig(env: Env = process.env) {
  const e = envReader(env);
  const c = readCommon(e, "forwarder");
  const tunnelIp = e.optional("NSM_TUNNEL_IP");
  if (tunnelIp !== undefined) {
    try {
      parseAddr(tunnelIp.trim());
    } catch (err) {
      throw new ConfigError("NSM_TUNNEL_IP", tunnelIp, (err as Error).message);
    }
  }
  const remote = e.optional("NSM_REMOTE_MECHANISMS");
  let remoteMechanisms: string[] | undefined;
  if (remote !== undefined && remote.trim() !== "") {
    remoteMechanisms = remote.split(",").map((x) => x.trim().toUpperCase());
    const bad = remoteMechanisms.find((x) => !(REMOTE_MECHANISMS as readonly string[]).includes(x));
    if (bad !== undefined)
      throw new ConfigError("NSM_REMOTE_MECHANISMS", remote, `"${bad}" is not one of ${REMOTE_MECHANISMS.join(", ")}`);
    if (new Set(remoteMechanisms).size !== remoteMechanisms.length)
      throw new ConfigError("NSM_REMOTE_MECHANISMS", remote, "names a mechanism twice");
  }
  return {
    ...c,
    listenOn: e.urls("NSM_LISTEN_ON", [`unix:///var/lib/networkservicemesh/${c.name}.sock`]).map((u) => u.href),
    nsmgrUrl: e.url("NSM_CONNECT_TO", "unix:///var/lib/networkservicemesh/nsm.io.sock").href,
    forwarderService: e.string("NSM_NSNAME", "forwarder"),
    labels: e.map("NSM_LABELS"),
    dialTimeoutMs: e.duration("NSM_DIAL_TIMEOUT", "750ms"),
    datapath: e.oneOf("NSM_DATAPATH", DATAPATHS, "kernel"),
    tunnelIp: tunnelIp?.trim(),
    vxlanPort: e.int("NSM_VXLAN_PORT", 4789, { min: 1, max: 65535 }),
    wireguardPort: e.int("NSM_WIREGUARD_PORT", 51820, { min: 1, max: 65535 }),
    remoteMechanisms,
    stateDir: e.string("NSM_STATE_DIR", `/run/nsm-ts/forwarder-${c.name}`),
    staleAfterMs: e.duration("NSM_STALE_TIMEOUT", "30s"),
    ovsDb: e.string("NSM_OVS_DB", "unix:/var/run/openvswitch/db.sock"),
    ovsBridge: e.string("NSM_BRIDGE_NAME", "br-nsm"),
    ovsUplink: e.optional("NSM_OVS_UPLINK"),
    vppApiSocket: e.optional("NSM_VPP_API_SOCKET"),
  };
}

/** The backend for NSM_DATAPATH. */
export async function backendFor(cfg: ReturnType<typeof readConfig>, log: Logger): Promise<DatapathBackend> {
  if (cfg.datapath === "null") return nullBackend();
  if (cfg.datapath === "ovs")
    return ovsBackend({
      db: cfg.ovsDb,
      bridge: cfg.ovsBridge,
      uplink: cfg.ovsUplink,
      tunnelIp: cfg.tunnelIp,
      vxlanPort: cfg.vxlanPort,
      log,
    });
  const kernel = () =>
    kernelBackend({
      tunnelIp: cfg.tunnelIp,
      vxlanPort: cfg.vxlanPort,
      wireguardPort: cfg.wireguardPort,
      ...(cfg.remoteMechanisms ? { remoteMechanisms: cfg.remoteMechanisms } : {}),
      stateDir: cfg.stateDir,
      staleAfterMs: cfg.staleAfterMs,
      log,
    });
  if (cfg.datapath === "memif") return memifBackend({ fallback: await kernel(), log });
  if (cfg.datapath === "vpp")
    return vppBackend({
      ...(cfg.vppApiSocket ? { apiSocket: cfg.vppApiSocket } : { runDir: `${cfg.stateDir}/vpp` }),
      tunnelIp: cfg.tunnelIp,
      vxlanPort: cfg.vxlanPort,
      log,
    });
  return kernel();
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const log = newLogger({ component: "forwarder", level: cfg.logLevel });
  log.info(cfg, "configuration");
  const lc = lifecycle({ log });
  const telemetry = await startTelemetry(readTelemetryConfig(), { component: "forwarder", name: cfg.name, log });
  const startup = (async () =>
    createForwarder({
      ...cfg,
      backend: await backendFor(cfg, log),
      signal: lc.signal,
      log,
      telemetry,
    }))();
  const fwd = await lc.start(startup, (f) => f.close());
  if (!fwd) {
    await telemetry.close();
    return lc.exitCode;
  }
  log.info({ url: fwd.url, datapath: fwd.backend.name }, "Startup completed");
  return lc.shutdown(async () => {
    await fwd.close();
    await telemetry.close();
  });
}
