/**
 * `nsm up`: starts the local mesh (src/mesh) with embedded defaults — 2 nodes, a registry, one
 * icmp-responder NSE — as detached processes, prints what runs and how to connect a client,
 * and exits. Node 0's nsmgr also listens on upstream's default socket, so a workload namespace
 * made by hand connects with `ip netns exec <ns> nsm nsc` and only NSM_NETWORK_SERVICES set.
 * `nsm down` stops it. Root only.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { unixSocketLive } from "../core/index.js";
import { createMesh, readMeshState } from "../mesh/index.js";
import { startSupervisor } from "../mesh/supervisor.js";
import { envReader, type Env } from "../tools/env.js";
import { createSvidDir, type SvidEnv } from "../tools/spiffe/index.js";

export const DEFAULT_SOCKET = "/var/lib/networkservicemesh/nsm.io.sock";

export const ENV_HELP = `nsm up — start a local mesh in network namespaces (root)

  2 nodes (netns <id>-n0, <id>-n1) on a bridge in <id>-fab (198.18.0.0/24), a registry, per node
  nsmgr + forwarder (kernel datapath), and an icmp-responder NSE on node 1. Processes run
  detached under a supervisor (\`nsm supervise\`) that restarts any that dies; logs and state
  under the state file's directory. Stop with \`nsm down\`.

  NSM_UP_ID          nsm                                              name prefix of the namespaces
  NSM_UP_STATE       /run/nsm-ts/mesh.json                            state file (nsm down reads it)
  NSM_UP_SOCKET      ${DEFAULT_SOCKET}   node 0's nsmgr socket for clients
  NSM_UP_CIDR        172.16.1.96/28                                   the NSE's address pool (a pair per client)
  NSM_UP_SERVICE     icmp-responder                                   the NSE's network service
  NSM_UP_TLS         false                                            true: mTLS + signed tokens + authorization with SVIDs from a
                                                                      built-in trust domain (files under <state dir>/<id>-mesh/svid, re-issued by the supervisor)
  NSM_UP_SVID_TTL    1h                                               lifetime of those SVIDs (re-issued at half of it)
  NSM_LOG_LEVEL      INFO                                             log level of every process`;

export function readConfig(env: Env = process.env) {
  const e = envReader(env);
  const stateFile = e.string("NSM_UP_STATE", "/run/nsm-ts/mesh.json");
  return {
    id: e.string("NSM_UP_ID", "nsm"),
    stateFile,
    dir: join(dirname(stateFile), `${e.string("NSM_UP_ID", "nsm")}-mesh`),
    socket: e.string("NSM_UP_SOCKET", DEFAULT_SOCKET),
    cidr: e.string("NSM_UP_CIDR", "172.16.1.96/28"),
    service: e.string("NSM_UP_SERVICE", "icmp-responder"),
    logLevel: e.string("NSM_LOG_LEVEL", "INFO"),
    tls: e.bool("NSM_UP_TLS", false),
    svidTtlMs: e.duration("NSM_UP_SVID_TTL", "1h"),
  };
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  if (process.getuid?.() !== 0) {
    console.error("nsm up: needs root (network namespaces)");
    return 1;
  }
  if (readMeshState(cfg.stateFile)) {
    console.error(`nsm up: a mesh is already up (state ${cfg.stateFile}); run \`nsm down\` first`);
    return 1;
  }
  if (existsSync(cfg.socket)) {
    if (await unixSocketLive(cfg.socket)) {
      console.error(`nsm up: another nsmgr listens on ${cfg.socket}; stop it or set NSM_UP_SOCKET`);
      return 1;
    }
    rmSync(cfg.socket, { force: true }); // stale socket file
  }
  mkdirSync(dirname(cfg.socket), { recursive: true });
  mkdirSync(dirname(cfg.stateFile), { recursive: true });
  const t0 = Date.now();
  // a built-in trust domain: one SVID for the mesh's processes, one for your nsc (docs/security.md)
  let svid: { dir: string; env: Record<string, SvidEnv> } | undefined;
  if (cfg.tls) {
    const dir = join(cfg.dir, "svid");
    const env = createSvidDir(
      dir,
      "nsm.local",
      { mesh: "spiffe://nsm.local/mesh", nsc: "spiffe://nsm.local/nsc" },
      cfg.svidTtlMs,
    );
    svid = { dir, env };
  }
  // progress on stderr, so stdout keeps only the summary
  const step = (what: string) => console.error(`nsm up: [${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);
  const mesh = await createMesh({
    progress: step,
    id: cfg.id,
    dir: cfg.dir,
    stateFile: cfg.stateFile,
    nodes: 2,
    detached: true,
    logLevel: cfg.logLevel,
    nsmgrExtraListen: (i) => (i === 0 ? [`unix://${cfg.socket}`] : []),
    ...(svid ? { env: { ...svid.env.mesh!, NSM_UP_SVID_DIR: svid.dir } } : {}),
  });
  let nse;
  try {
    step(`endpoint "${cfg.service}" on node 1 (addresses from ${cfg.cidr})`);
    nse = await mesh.startNse(1, { name: cfg.service, cidr: cfg.cidr, services: [cfg.service] });
    // from here on the supervisor owns the state file: it restarts what dies and records the pid
    startSupervisor(mesh.state);
  } catch (e) {
    await mesh.close().catch(() => undefined);
    throw e;
  }
  const s = mesh.state;
  const nscEnv = svid
    ? Object.entries(svid.env.nsc!)
        .map(([k, v]) => `${k}=${v} `)
        .join("")
    : "";
  const lines = [
    `nsm up: local mesh "${cfg.id}" is running (${((Date.now() - t0) / 1000).toFixed(1)} s; state ${cfg.stateFile}, logs ${cfg.dir}/*.log)`,
    "",
    `  fabric    netns ${s.fabric}   bridge br0 ${s.registryUrl.replace(/^tcp:\/\//, "").split(":")[0]}/24   registry ${s.registryUrl} (pid ${mesh.procs.get("registry")!.pid})`,
    ...s.nodes.map(
      (n, i) =>
        `  node ${i}    netns ${n.netns}    ${n.ip}   nsmgr-${i} ${i === 0 ? `unix://${cfg.socket}, ` : ""}${n.nsmgrUrl} (pid ${mesh.procs.get(`nsmgr-${i}`)!.pid})   forwarder-${i} kernel datapath (pid ${mesh.procs.get(`forwarder-${i}`)!.pid})`,
    ),
    `  endpoint  netns ${nse.workload}    ${cfg.service} on node 1: nse-icmp-responder, service "${cfg.service}", addresses from ${cfg.cidr} (pid ${nse.pid})`,
    `  supervisor  pid ${s.supervisor!.pid}: restarts any of these that dies (log ${s.supervisor!.log})`,
    "",
    "Connect a client from a namespace of your own (node 0's nsmgr; the NSE is on node 1, so this goes over vxlan):",
    "",
    "  ip netns add mine",
    `  ip netns exec mine env ${nscEnv}NSM_NETWORK_SERVICES=kernel://${cfg.service}/nsm-1 ${cfg.socket === DEFAULT_SOCKET ? "" : `NSM_CONNECT_TO=unix://${cfg.socket} `}npx nsm nsc &`,
    "  ip -n mine addr show nsm-1            # your address; the NSE's is the route on nsm-1:",
    "  ip netns exec mine ping -c 3 $(ip -n mine route show dev nsm-1 scope link | awk '{print $1; exit}')",
    "",
    "Stop everything (processes, namespaces, links, sockets): npx nsm down",
  ];
  console.log(lines.join("\n"));
  return 0;
}
