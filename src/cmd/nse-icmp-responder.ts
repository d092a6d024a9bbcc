/**
 * `nsm nse-icmp-responder`: the generic endpoint of upstream's examples: point-to-point
 * addresses from NSM_CIDR_PREFIX, optional DNS configs, KERNEL/MEMIF/NOOP mechanisms; registers
 * its services and itself with the nsmgr (refreshed), serves on a unix socket.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEndpoint } from "../networkservice/components.js";
import { COMMON_HELP, readCommon } from "../networkservice/cmdutil.js";
import { payload as payloads } from "../api/index.js";
import { parsePrefix, size } from "../networkservice/utils/ip.js";
import { ConfigError, envReader, type Env } from "../tools/env.js";
import { readTelemetryConfig, startTelemetry, TELEMETRY_HELP } from "../tools/telemetry/index.js";
import { newLogger } from "../tools/log.js";
import { lifecycle } from "./lifecycle.js";

export const ENV_HELP = `nsm nse-icmp-responder — ICMP responder endpoint

  NSM_NAME                 icmp-server                                     NSE name
  NSM_CONNECT_TO           unix:///var/lib/networkservicemesh/nsm.io.sock  nsmgr (registry) URL
  NSM_SERVICE_NAMES        icmp-responder                                  services provided (and registered)
  NSM_PAYLOAD              ETHERNET                                        payload of the registered NetworkService
  NSM_LABELS               (none)                                          NSE labels k:v,... for every service
  NSM_CIDR_PREFIX          169.254.0.0/16                                  address pools; [a,b],c groups
  NSM_DNS_CONFIGS          []                                              JSON array of {"dns_server_ips":[...],"search_domains":[...]}
  NSM_REGISTER_SERVICE     true                                            register the NetworkService(s)
  NSM_UNREGISTER_ITSELF    false                                           unregister on exit
  NSM_LISTEN_ON            unix://<tmpdir>/listen.on                       where to serve (ours; upstream always uses the tmpdir)
  NSM_IPAM_POLICY          polite                                          polite | strict (strict: not yet, treated as polite)
${TELEMETRY_HELP}
${COMMON_HELP}`;

/** `[a,b],c` → [[a,b],[c]] (upstream cidr.Groups); we hand every CIDR to one IPAM (one pair per connection). */
export function parseCidrGroups(v: string): string[][] {
  const s = v.replace(/\s+/g, "");
  const groups: string[][] = [];
  for (const m of s.matchAll(/\[([^\]]*)\]|([^,[\]]+)/g)) groups.push((m[1] ?? m[2]!).split(",").filter(Boolean));
  return groups.filter((g) => g.length);
}

export function readConfig(env: Env = process.env) {
  const e = envReader(env);
  const c = readCommon(e, "icmp-server");
  const rawDns = e.string("NSM_DNS_CONFIGS", "[]");
  let dns: { dnsServerIps: string[]; searchDomains: string[] }[];
  try {
    const parsed = JSON.parse(rawDns) as { dns_server_ips?: string[]; search_domains?: string[] }[];
    if (!Array.isArray(parsed)) throw new Error("not a JSON array");
    dns = parsed.map((d) => ({ dnsServerIps: d.dns_server_ips ?? [], searchDomains: d.search_domains ?? [] }));
  } catch (err) {
    throw new ConfigError("NSM_DNS_CONFIGS", rawDns, (err as Error).message);
  }
  const cidrRaw = e.string("NSM_CIDR_PREFIX", "169.254.0.0/16");
  const groups = parseCidrGroups(cidrRaw);
  if (!groups.length) throw new ConfigError("NSM_CIDR_PREFIX", cidrRaw, "no CIDR given");
  for (const cidr of groups.flat()) {
    let n: bigint;
    try {
      n = size(parsePrefix(cidr));
    } catch (err) {
      throw new ConfigError("NSM_CIDR_PREFIX", cidrRaw, (err as Error).message);
    }
    // every connection takes a point-to-point pair: a pool needs room for two addresses
    if (n < 2n)
      throw new ConfigError("NSM_CIDR_PREFIX", cidrRaw, `"${cidr}" has room for ${n} address; a pair needs 2`);
  }
  return {
    ...c,
    nsmgrUrl: e.url("NSM_CONNECT_TO", "unix:///var/lib/networkservicemesh/nsm.io.sock").href,
    services: e.list("NSM_SERVICE_NAMES", ["icmp-responder"]),
    payload: e.oneOf("NSM_PAYLOAD", [payloads.ETHERNET, payloads.IP], payloads.ETHERNET),
    labels: e.map("NSM_LABELS"),
    cidrs: groups.flat(),
    dnsConfigs: dns,
    registerService: e.bool("NSM_REGISTER_SERVICE", true),
    unregisterItself: e.bool("NSM_UNREGISTER_ITSELF", false),
    listenOn: e.optionalUrl("NSM_LISTEN_ON")?.href,
    ipamPolicy: e.oneOf("NSM_IPAM_POLICY", ["polite", "strict"], "polite"),
  };
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const log = newLogger({ component: "nse-icmp-responder", level: cfg.logLevel });
  log.info(cfg, "configuration");
  const dir = cfg.listenOn ? undefined : mkdtempSync(join(tmpdir(), `${cfg.name}-`));
  const lc = lifecycle({ log });
  // a forced exit skips `finally`: the temporary directory goes with the process all the same
  const rmDir = () => dir && rmSync(dir, { recursive: true, force: true });
  process.once("exit", rmDir);
  const telemetry = await startTelemetry(readTelemetryConfig(), {
    component: "nse-icmp-responder",
    name: cfg.name,
    log,
  });
  try {
    const close = (n: Awaited<ReturnType<typeof createEndpoint>>) => n.close({ unregister: cfg.unregisterItself });
    const startup = createEndpoint({
      ...cfg,
      listenOn: [cfg.listenOn ?? `unix://${join(dir!, "listen.on")}`],
      signal: lc.signal,
      log,
      telemetry,
    });
    const nse = await lc.start(startup, close);
    if (!nse) return lc.exitCode;
    log.info({ url: nse.url }, "Startup completed");
    return await lc.shutdown(() => close(nse));
  } finally {
    rmDir();
    await telemetry.close();
  }
}
