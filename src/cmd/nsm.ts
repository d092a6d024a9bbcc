/**
 * The `nsm` CLI: one subcommand per component, each configured by upstream's NSM_* variables.
 * A component adds itself to `commands` below with a lazy import, so `nsm --help` stays fast.
 */
import { packageVersion } from "../tools/pkg.js";

export interface Command {
  summary: string;
  /** runs the component until it is told to stop; resolves with the exit code */
  run(args: string[]): Promise<number | void>;
}

const lazy = (path: string, summary: string): Command => ({
  summary,
  async run(args) {
    const m = (await import(path)) as { run(args: string[]): Promise<number | void> };
    return m.run(args);
  },
});

/**
 * A component with a SPIFFE identity (src/networkservice/security.ts): the SVID is fetched before
 * the component starts (fatal when configured and unavailable) and is the process identity
 * for all its gRPC servers and clients; plaintext dev mode otherwise, said loudly.
 */
const secured = (c: Command, o: { onlyIfConfigured?: boolean } = {}): Command => ({
  summary: c.summary,
  async run(args) {
    if (args.includes("--help") || args.includes("-h")) return c.run(args);
    // tools (status, trace): an identity when one is configured, and no word otherwise
    if (o.onlyIfConfigured && !process.env.SPIFFE_ENDPOINT_SOCKET && !process.env.NSM_SVID_CERT) return c.run(args);
    const { readSecurity, startIdentity } = await import("../networkservice/security.js");
    const { envReader } = await import("../tools/env.js");
    const { newLogger } = await import("../tools/log.js");
    const log = newLogger({ component: "security", level: process.env.NSM_LOG_LEVEL || "INFO" });
    let id: { close(): void };
    try {
      id = await startIdentity(readSecurity(envReader(process.env)), log);
    } catch (e) {
      log.error({ err: (e as Error).message }, "cannot get an SVID");
      console.error(`nsm: ${(e as Error).message}`);
      return 1;
    }
    try {
      return await c.run(args);
    } finally {
      id.close();
    }
  },
});

/** Every subcommand; later components add a line here. */
export const commands: Record<string, Command> = {
  "native-links": lazy(
    "./native-links.js",
    "list the links of a network namespace (path, e.g. /run/netns/x) through the native addon",
  ),
  registry: secured(lazy("./registry.js", "registry server (NS + NSE registries) over memory, etcd or Kubernetes CRs")),
  "admission-webhook": lazy(
    "./admission-webhook.js",
    "Kubernetes mutating webhook: injects nsc-init and nsc into pods annotated networkservicemesh.io",
  ),
  "cluster-info": lazy("./cluster-info.js", "Kubernetes: ClusterProperty objects → the cluster-info ConfigMap"),
  "exclude-prefixes": lazy(
    "./exclude-prefixes.js",
    "Kubernetes: pod/service/node CIDRs (+ static, user lists), merged → the file or ConfigMap IPAM excludes",
  ),
  "registry-proxy-dns": secured(
    lazy(
      "./registry-proxy-dns.js",
      "registry proxy for interdomain names (name@domain): finds the domain's registry through DNS (SRV + A)",
    ),
  ),
  "nsmgr-proxy": secured(
    lazy(
      "./nsmgr-proxy.js",
      "interdomain gateway: connections and registrations between domains, tunnel IPs through the map-ip map",
    ),
  ),
  "map-ip": lazy("./map-ip.js", "writes nsmgr-proxy's internal→external IP map from a file or a mesh's node list"),
  nsmgr: secured(
    lazy(
      "./nsmgr.js",
      "network service manager: NetworkService, MonitorConnection, registries (memory or NSM_REGISTRY_URL)",
    ),
  ),
  forwarder: secured(
    lazy("./forwarder.js", "forwarder with a datapath backend (NSM_DATAPATH: kernel (default), ovs, memif, vpp, null)"),
  ),
  "nse-icmp-responder": secured(
    lazy("./nse-icmp-responder.js", "endpoint handing out point-to-point addresses from NSM_CIDR_PREFIX"),
  ),
  "nse-vl3": secured(
    lazy(
      "./nse-vl3.js",
      "vL3 endpoint: one flat L3 network over several endpoints, addresses from the IPAM service, DNS names",
    ),
  ),
  "ipam-vl3": secured(lazy("./ipam-vl3.js", "prefix service for vL3 endpoints (ipam.IPAM/ManagePrefixes)")),
  nsc: secured(lazy("./nsc.js", "client: requests NSM_NETWORK_SERVICES and keeps the connections (refresh, heal)")),
  "nsc-init": secured(
    lazy("./nsc-init.js", "client: requests NSM_NETWORK_SERVICES once and exits, leaving the connections"),
  ),
  up: lazy(
    "./up.js",
    "start a local mesh in network namespaces (2 nodes, registry, icmp-responder NSE) and print how to connect",
  ),
  down: lazy("./down.js", "stop the mesh `nsm up` started and remove its namespaces, links and sockets"),
  status: secured(
    lazy("./status.js", "nodes, forwarders, NSEs, services and connections of a mesh (--watch, --json)"),
    { onlyIfConfigured: true },
  ),
  trace: secured(
    lazy("./trace.js", "one connection's hops (path, mechanisms, token expiry) and each hop's log lines about it"),
    { onlyIfConfigured: true },
  ),
  supervise: lazy(
    "./supervise.js",
    "restart the processes of the mesh `nsm up` started when they die (nsm up runs it, detached)",
  ),
};

const version = packageVersion;

export function usage(): string {
  const names = Object.keys(commands).sort();
  const w = Math.max(...names.map((n) => n.length));
  return [
    `nsm ${version()} — Network Service Mesh in TypeScript`,
    "",
    "usage: nsm <command> [args]        configuration comes from NSM_* environment variables",
    "",
    "commands:",
    ...names.map((n) => `  ${n.padEnd(w)}  ${commands[n]!.summary}`),
    "",
    "  nsm <command> --help prints the command's environment variables",
  ].join("\n");
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name) {
    console.error(usage());
    process.exitCode = 2;
    return;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return;
  }
  if (name === "--version" || name === "-v") {
    console.log(version());
    return;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`nsm: unknown command "${name}"\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  exitWithin(name, EXIT_WITHIN_MS);
  try {
    const code = await cmd.run(rest);
    if (typeof code === "number") process.exitCode = code;
  } catch (e) {
    console.error(`nsm ${name}: ${(e as Error).message}`);
    process.exitCode = 1;
  }
  // whatever a peer left open (a channel in back-off, a stream a dead peer never ends) must not keep us
  setTimeout(() => process.exit(), 500).unref();
}

/** How long a component may take to stop after SIGTERM (upstream's pods get 30 s; our tests want 5 s). */
export const EXIT_WITHIN_MS = 4500;

/**
 * Bounds shutdown: after a stop signal the process exits within `ms` even if some close step
 * hangs on a dead peer. A command that does not handle the signal itself dies at once, as without
 * this listener.
 */
function exitWithin(name: string, ms: number): void {
  const signo = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 } as const;
  for (const sig of Object.keys(signo) as (keyof typeof signo)[]) {
    process.once(sig, () => {
      if (process.listenerCount(sig) === 0) process.exit(128 + signo[sig]);
      setTimeout(() => {
        console.error(`nsm ${name}: still stopping ${ms} ms after ${sig}; exiting`);
        process.exit(1);
      }, ms).unref();
    });
  }
}
