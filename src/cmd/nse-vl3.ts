/**
 * `nsm nse-vl3`: a vL3 endpoint (upstream cmd-nse-vl3-vpp; see docs/vl3.md), routing with the kernel of
 * its namespace or, with NSM_VL3_DATAPATH=vpp, with a VPP of its own:
 * gets its prefix from the IPAM service, gives each client an address and the vL3 routes, links
 * to the endpoints of its service registered before it, and answers DNS for its clients' names.
 * Run it in a network namespace of its own: it routes there.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createVl3Endpoint, DEFAULT_DNS_TEMPLATE } from "../networkservice/components/vl3.js";
import { COMMON_HELP, readCommon } from "../networkservice/cmdutil.js";
import { checkTemplate } from "../networkservice/utils/dnstemplate.js";
import { prefixServerUrl } from "../networkservice/vl3ipam/client.js";
import { create, ConnectionSchema } from "../api/index.js";
import { ConfigError, envReader, type Env } from "../tools/env.js";
import { newLogger } from "../tools/log.js";
import { lifecycle } from "./lifecycle.js";

export const ENV_HELP = `nsm nse-vl3 — vL3 endpoint (kernel or VPP datapath, in its own network namespace)

  NSM_NAME                     vL3-server                                            NSE name
  NSM_CONNECT_TO               unix:///var/lib/networkservicemesh/nsm.io.sock        nsmgr (registry) URL
  NSM_SERVICE_NAMES            vL3                                                   services provided (registered, payload IP); peers are found on the first
  NSM_LABELS                   (none)                                                NSE labels k:v,... for every service
  NSM_REQUEST_LABELS           (none)                                                labels k:v,... on our requests to peer endpoints
  NSM_PREFIX_SERVER_URL        vl3-ipam:5006                                         IPAM service(s) (host:port, tcp:// or unix://), one per address family
  NSM_DNS_TEMPLATES            {{ index .Labels "podName" }}.{{ .NetworkService }}.  names of a client (Go template subset, see docs/vl3.md)
  NSM_REGISTER_SERVICE         true                                                  register the NetworkService(s)
  NSM_UNREGISTER_ITSELF        true                                                  unregister on exit
  NSM_LISTEN_ON                unix://<tmpdir>/listen.on.sock                        where to serve (ours; upstream always uses the tmpdir)
  NSM_DIAL_TIMEOUT             5s                                                    dial timeout
  NSM_REQUEST_TIMEOUT          15s                                                   per Request to a peer
  NSM_IDLE_TIMEOUT             0                                                     exit after this long without connections (0 = never)
  NSM_DNS_LISTEN_ON            :53                                                   our DNS server (UDP + TCP) in our namespace (ours; "" = none)
  NSM_VL3_DATAPATH             kernel                                                kernel | vpp: who routes between the connections (ours; vpp = upstream cmd-nse-vl3-vpp)
  NSM_LIVENESS_CHECK_ENABLED   true                                                  heal pings each peer link's far S (kernel: over the link; vpp: from our DNS address through VPP)
  NSM_LIVENESS_CHECK_INTERVAL  200ms                                                 how often a peer link's data plane is checked
  NSM_LIVENESS_CHECK_TIMEOUT   1s                                                    how long one check waits for an answer
  NSM_VPP_API_SOCKET           (none: start our own VPP in a temp dir)               vpp: a running VPP's API socket (in our namespace)
${COMMON_HELP}`;

export function readConfig(env: Env = process.env) {
  const e = envReader(env);
  const c = readCommon(e, "vL3-server");
  const urls = e.list("NSM_PREFIX_SERVER_URL", ["vl3-ipam:5006"]);
  for (const u of urls)
    try {
      prefixServerUrl(u);
    } catch (err) {
      throw new ConfigError("NSM_PREFIX_SERVER_URL", u, (err as Error).message);
    }
  const raw = e.optional("NSM_DNS_TEMPLATES");
  const templates = raw === undefined ? [DEFAULT_DNS_TEMPLATE] : e.list("NSM_DNS_TEMPLATES", []);
  const probe = create(ConnectionSchema, { id: "x", networkService: "s", labels: { podName: "p" } });
  for (const t of templates)
    try {
      checkTemplate(t, probe);
    } catch (err) {
      throw new ConfigError("NSM_DNS_TEMPLATES", t, (err as Error).message);
    }
  return {
    ...c,
    nsmgrUrl: e.url("NSM_CONNECT_TO", "unix:///var/lib/networkservicemesh/nsm.io.sock").href,
    services: e.list("NSM_SERVICE_NAMES", ["vL3"]),
    labels: e.map("NSM_LABELS"),
    requestLabels: e.map("NSM_REQUEST_LABELS"),
    prefixServerUrls: urls,
    dnsTemplates: templates,
    registerService: e.bool("NSM_REGISTER_SERVICE", true),
    unregisterItself: e.bool("NSM_UNREGISTER_ITSELF", true),
    listenOn: e.optionalUrl("NSM_LISTEN_ON")?.href,
    dialTimeoutMs: e.duration("NSM_DIAL_TIMEOUT", "5s"),
    requestTimeoutMs: e.duration("NSM_REQUEST_TIMEOUT", "15s"),
    idleTimeoutMs: e.duration("NSM_IDLE_TIMEOUT", "0"),
    dnsListenOn: e.string("NSM_DNS_LISTEN_ON", ":53"),
    datapath: e.oneOf("NSM_VL3_DATAPATH", ["kernel", "vpp"] as const, "kernel"),
    vppApiSocket: e.optional("NSM_VPP_API_SOCKET"),
    liveness: e.bool("NSM_LIVENESS_CHECK_ENABLED", true)
      ? {
          intervalMs: e.duration("NSM_LIVENESS_CHECK_INTERVAL", "200ms"),
          timeoutMs: e.duration("NSM_LIVENESS_CHECK_TIMEOUT", "1s"),
        }
      : (false as const),
  };
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const log = newLogger({ component: "nse-vl3", level: cfg.logLevel });
  log.info(cfg, "configuration");
  const dir = cfg.listenOn ? undefined : mkdtempSync(join(tmpdir(), `${cfg.name}-`));
  const rmDir = () => dir && rmSync(dir, { recursive: true, force: true });
  process.once("exit", rmDir);
  const lc = lifecycle({ log });
  try {
    const close = (n: Awaited<ReturnType<typeof createVl3Endpoint>>) => n.close({ unregister: cfg.unregisterItself });
    const startup = createVl3Endpoint({
      ...cfg,
      listenOn: [cfg.listenOn ?? `unix://${join(dir!, "listen.on.sock")}`],
      signal: lc.signal,
      log,
      onIdle: () => lc.stop("idle timeout"),
    });
    const nse = await lc.start(startup, close);
    if (!nse) return lc.exitCode;
    log.info(
      { url: nse.nse.url, prefix: nse.pool.prefix, dns: nse.dnsIp(), datapath: cfg.datapath },
      "Startup completed",
    );
    return await lc.shutdown(() => close(nse));
  } finally {
    rmDir();
  }
}
