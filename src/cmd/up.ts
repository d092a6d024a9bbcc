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
import { createDomains, createMesh, readMeshState, type Mesh } from "../mesh/index.js";
import { startSupervisor } from "../mesh/supervisor.js";
import { ConfigError, envReader, type Env } from "../tools/env.js";
import { createSvidDir, type SvidEnv } from "../tools/spiffe/index.js";
import { startVl3 } from "./up-vl3.js";
import { findSpire, spireDirOf, startUpSpire, stopUpSpire, type UpSpire } from "./up-spire.js";

export const DEFAULT_SOCKET = "/var/lib/networkservicemesh/nsm.io.sock";

export const ENV_HELP = `nsm up — start a local mesh in network namespaces (root)

  2 nodes (netns <id>-n0, <id>-n1) on a bridge in <id>-fab (198.18.0.0/24), a registry, per node
  nsmgr + forwarder (NSM_UP_DATAPATH), and an icmp-responder NSE on node 1. Processes run
  detached under a supervisor (\`nsm supervise\`) that restarts any that dies; logs and state
  under the state file's directory. Stop with \`nsm down\`.

  NSM_UP_ID          nsm                                              name prefix of the namespaces
  NSM_UP_STATE       /run/nsm-ts/mesh.json                            state file (nsm down reads it)
  NSM_UP_SOCKET      ${DEFAULT_SOCKET}   node 0's nsmgr socket for clients
  NSM_UP_CIDR        172.16.1.96/28                                   the NSE's address pool (a pair per client)
  NSM_UP_SERVICE     icmp-responder                                   the NSE's network service (vl3 scenario: vl3)
  NSM_UP_SCENARIO    icmp                                             icmp | vl3: an IPAM service (ipam-vl3, 172.16.0.0/16, /24 each)
                                                                      and a vL3 endpoint on each node; clients join one flat network
  NSM_UP_DOMAINS     1                                                domains (N > 1: one node each, see below; icmp scenario only)
  NSM_UP_DATAPATH    kernel                                           the forwarders' datapath: kernel | ovs | memif | vpp (one VPP per node)
  NSM_UP_TLS         false                                            true: mTLS + signed tokens + authorization with an SVID per process
                                                                      (spiffe://nsm.local/ns/nsm-system/sa/<process>) from a built-in trust domain
                                                                      (files under <state dir>/<id>-mesh/svid, re-issued by the supervisor)
  NSM_UP_SPIRE       false                                            true: the same with SVIDs from a SPIRE server + agent of its own
                                                                      (spire.sh from NSM_SPIRE_DIR, /usr/local/lib/nsm-test or ../shared/spire; an
                                                                      entry per process, told apart by its group id); nsm down stops them
  NSM_SPIRE_DIR      (unset)                                          a directory with spire.sh (see ../shared/spire/README.md)
  NSM_UP_SVID_TTL    1h                                               lifetime of those SVIDs (re-issued at half of it)
  NSM_LOG_LEVEL      INFO                                             log level of every process

  With NSM_UP_DOMAINS=N > 1: N domains domain1.nsm … domainN.nsm, each a fabric
  (198.18.<k>.0/24) with a registry, one node (nsmgr + forwarder), nsmgr-proxy (:5004),
  registry-proxy-dns (:5005) and map-ip; a router netns <id>-rt joins them and runs a dnsmasq
  (198.19.0.254:53) serving their SRV/A records. The NSE runs in the last domain; nsm up prints
  the interdomain URL to request from domain 1 (kernel://<service>@domainN.nsm/nsm-1).
  \`nsm down\` stops every domain, the router and dnsmasq. See docs/interdomain.md.`;

export function readConfig(env: Env = process.env) {
  const e = envReader(env);
  const stateFile = e.string("NSM_UP_STATE", "/run/nsm-ts/mesh.json");
  const cfg = {
    id: e.string("NSM_UP_ID", "nsm"),
    stateFile,
    dir: join(dirname(stateFile), `${e.string("NSM_UP_ID", "nsm")}-mesh`),
    socket: e.string("NSM_UP_SOCKET", DEFAULT_SOCKET),
    cidr: e.string("NSM_UP_CIDR", "172.16.1.96/28"),
    scenario: e.oneOf("NSM_UP_SCENARIO", ["icmp", "vl3"], "icmp"),
    service: e.string("NSM_UP_SERVICE", e.optional("NSM_UP_SCENARIO") === "vl3" ? "vl3" : "icmp-responder"),
    datapath: e.oneOf("NSM_UP_DATAPATH", ["kernel", "ovs", "memif", "vpp"] as const, "kernel"),
    logLevel: e.string("NSM_LOG_LEVEL", "INFO"),
    domains: e.int("NSM_UP_DOMAINS", 1, { min: 1, max: 9 }),
    tls: e.bool("NSM_UP_TLS", false),
    spire: e.bool("NSM_UP_SPIRE", false),
    svidTtlMs: e.duration("NSM_UP_SVID_TTL", "1h"),
  };
  if (cfg.scenario === "vl3" && cfg.domains > 1)
    throw new ConfigError("NSM_UP_DOMAINS", String(cfg.domains), "the vl3 scenario runs in one domain");
  if (cfg.tls && cfg.spire)
    throw new ConfigError("NSM_UP_SPIRE", "true", "NSM_UP_TLS and NSM_UP_SPIRE exclude each other");
  if ((cfg.tls || cfg.spire) && (cfg.domains > 1 || cfg.scenario !== "icmp"))
    throw new ConfigError(
      cfg.tls ? "NSM_UP_TLS" : "NSM_UP_SPIRE",
      "true",
      "TLS runs with one domain and the icmp scenario for now",
    );
  return cfg;
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
  const procNames = ["registry", "nsmgr-0", "nsmgr-1", "forwarder-0", "forwarder-1", cfg.service];
  let spire: UpSpire | undefined;
  if (cfg.spire) {
    const sh = findSpire();
    if (!sh) {
      console.error(
        "nsm up: NSM_UP_SPIRE=true needs SPIRE: no spire.sh in NSM_SPIRE_DIR, /usr/local/lib/nsm-test or ../shared/spire",
      );
      return 1;
    }
    console.error(`nsm up: SPIRE server + agent (${sh}), an entry per process`);
    spire = startUpSpire(sh, spireDirOf(cfg.stateFile, cfg.id), procNames);
  }
  // a built-in trust domain: an SVID per process of the mesh and one for your nsc (docs/security.md)
  let svid: { dir: string; env: Record<string, SvidEnv> } | undefined;
  if (cfg.tls) {
    const dir = join(cfg.dir, "svid");
    const ids: Record<string, string> = { nsc: "spiffe://nsm.local/ns/default/sa/nsc" };
    for (const n of procNames) ids[n] = `spiffe://nsm.local/ns/nsm-system/sa/${n}`;
    svid = { dir, env: createSvidDir(dir, "nsm.local", ids, cfg.svidTtlMs) };
  }
  // progress on stderr, so stdout keeps only the summary
  const step = (what: string) => console.error(`nsm up: [${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);
  const env: Record<string, string> = svid
    ? { NSM_UP_SVID_DIR: svid.dir }
    : spire
      ? // entries reach the agent within ~5 s: each process waits for its SVID
        { SPIFFE_ENDPOINT_SOCKET: `unix://${spire.socket}`, NSM_SVID_TIMEOUT: "30s" }
      : {};
  const common = {
    progress: step,
    id: cfg.id,
    dir: cfg.dir,
    stateFile: cfg.stateFile,
    detached: true,
    datapath: cfg.datapath,
    logLevel: cfg.logLevel,
    nsmgrExtraListen: (i: number) => (i === 0 ? [`unix://${cfg.socket}`] : []),
    env,
    ...(svid ? { envFor: (name: string) => (name === "nsc" ? undefined : svid.env[name]) } : {}),
    ...(spire ? { gidFor: (name: string) => spire.gid(name) } : {}),
  };
  let meshes: Mesh[];
  let names: string[] = [];
  if (cfg.domains > 1) {
    const d = await createDomains({ ...common, count: cfg.domains, nodes: 1 });
    meshes = d.meshes;
    names = d.names;
  } else
    meshes = [
      await createMesh({ ...common, nodes: 2 }).catch((e: unknown) => {
        if (spire) stopUpSpire(spire.dir);
        throw e;
      }),
    ];
  const mesh = meshes[0]!;
  const last = meshes[meshes.length - 1]!;
  const nseNode = cfg.domains > 1 ? 0 : 1;
  let nse;
  try {
    if (cfg.scenario === "vl3") {
      await startVl3(mesh, cfg, step, t0);
      return 0;
    }
    step(
      `endpoint "${cfg.service}" on ${cfg.domains > 1 ? `${names.at(-1)} node 0` : "node 1"} (addresses from ${cfg.cidr})`,
    );
    nse = await last.startNse(nseNode, { name: cfg.service, cidr: cfg.cidr, services: [cfg.service] });
    // from here on the supervisors own the state files: they restart what dies and record the pid
    for (const m of meshes) startSupervisor(m.state);
  } catch (e) {
    await mesh.close().catch(() => undefined);
    if (spire) stopUpSpire(spire.dir);
    throw e;
  }
  const s = mesh.state;
  const pid = (m: Mesh, name: string) => m.procs.get(name)!.pid;
  const url = `kernel://${cfg.service}${names.length ? `@${names.at(-1)}` : ""}/nsm-1`;
  const where = names.length ? `${names.at(-1)} node 0` : "node 1";
  const meshLines = (m: Mesh, label: string) => [
    `  fabric    netns ${m.state.fabric}   bridge br0 ${m.state.registryUrl.replace(/^tcp:\/\//, "").split(":")[0]}/24   registry ${m.state.registryUrl} (pid ${pid(m, "registry")})${label}`,
    ...(m.state.interdomain
      ? [
          `  gateway   nsmgr-proxy ${m.state.interdomain.nsmgrProxyUrl} (pid ${pid(m, "nsmgr-proxy")})   registry-proxy-dns ${m.state.interdomain.registryProxyUrl} (pid ${pid(m, "registry-proxy-dns")})   map-ip (pid ${pid(m, "map-ip")})`,
        ]
      : []),
    ...m.state.nodes.map(
      (n, i) =>
        `  node ${i}    netns ${n.netns}    ${n.ip}   nsmgr-${i} ${m === mesh && i === 0 ? `unix://${cfg.socket}, ` : ""}${n.nsmgrUrl} (pid ${pid(m, `nsmgr-${i}`)})   forwarder-${i} ${cfg.datapath} datapath (pid ${pid(m, `forwarder-${i}`)})`,
    ),
  ];
  const nscEnv = svid
    ? Object.entries(svid.env.nsc!)
        .map(([k, v]) => `${k}=${v} `)
        .join("")
    : spire
      ? `SPIFFE_ENDPOINT_SOCKET=unix://${spire.socket} `
      : "";
  // with SPIRE the agent knows your nsc by its group id
  const nscRun = spire ? `setpriv --regid ${spire.nscGid} --clear-groups env ` : "env ";
  const lines = [
    `nsm up: local mesh "${cfg.id}" is running (${((Date.now() - t0) / 1000).toFixed(1)} s; state ${cfg.stateFile}, logs ${cfg.dir}/*.log)`,
    "",
    ...meshes.flatMap((m, k) => [...(names.length ? [`  domain ${names[k]}`] : []), ...meshLines(m, "")]),
    ...(s.linked?.dnsmasq
      ? [
          `  router    netns ${s.linked.netns[0]}   dnsmasq 198.19.0.254:53 (pid ${s.linked.dnsmasq.pid}): SRV + A of registry.nsm-system.<domain>, nsmgr-proxy.nsm-system.<domain>`,
        ]
      : []),
    `  endpoint  netns ${nse.workload}    ${cfg.service} on ${where}: nse-icmp-responder, service "${cfg.service}", addresses from ${cfg.cidr} (pid ${nse.pid})`,
    `  supervisor  pid ${meshes.map((m) => m.state.supervisor!.pid).join(", ")}: restarts any of these that dies (log ${s.supervisor!.log})`,
    "",
    names.length
      ? `Connect a client from a namespace of your own (${names[0]} node 0's nsmgr; the NSE is in ${names.at(-1)}, so this goes through both nsmgr-proxies and a vxlan between the domains):`
      : "Connect a client from a namespace of your own (node 0's nsmgr; the NSE is on node 1, so this goes over vxlan):",
    "",
    "  ip netns add mine",
    `  ip netns exec mine ${nscRun}${nscEnv}NSM_NETWORK_SERVICES=${url} ${cfg.socket === DEFAULT_SOCKET ? "" : `NSM_CONNECT_TO=unix://${cfg.socket} `}npx nsm nsc &`,
    "  ip -n mine addr show nsm-1            # your address; the NSE's is the route on nsm-1:",
    "  ip netns exec mine ping -c 3 $(ip -n mine route show dev nsm-1 scope link | awk '{print $1; exit}')",
    "",
    "Stop everything (processes, namespaces, links, sockets): npx nsm down",
  ];
  console.log(lines.join("\n"));
  return 0;
}
