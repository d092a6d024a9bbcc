/**
 * `nsm nsmgr-proxy` (cmd-nsmgr-proxy): the domain's interdomain gateway. NetworkService,
 * MonitorConnection and both registries on every NSM_LISTEN_ON URL; interdomain registrations
 * and lookups go to registry-proxy-dns (NSM_REGISTRY_PROXY_URL), local ones to NSM_REGISTRY_URL;
 * tunnel addresses cross domains through the IP map (NSM_MAP_IP_FILE_PATH, reloaded on change).
 */
import { createNsmgrProxy } from "../networkservice/components.js";
import { COMMON_HELP, readCommon } from "../networkservice/cmdutil.js";
import { ConfigError, envReader, type Env } from "../tools/env.js";
import { newLogger } from "../tools/log.js";
import { lifecycle } from "./lifecycle.js";

export const ENV_HELP = `nsm nsmgr-proxy — interdomain gateway: NetworkService, MonitorConnection, both registries

  NSM_NAME                 nsmgr-proxy                path segment name
  NSM_LISTEN_ON            unix:///listen.on.socket   listen URLs; the first tcp one is published (tcp://:5004 → first non-loopback IPv4)
  NSM_REGISTRY_URL         (required)                 this domain's registry
  NSM_REGISTRY_PROXY_URL   (required)                 registry-proxy-dns
  NSM_MAP_IP_FILE_PATH     map-ip.yaml                internal→external IP map (flat YAML; reloaded on change; missing = no swap)
  NSM_DIAL_TIMEOUT         0                          dial timeout to the next hop and the registries (0: 15 s)
  NSM_REGISTRY_SERVER_POLICIES / NSM_REGISTRY_CLIENT_POLICIES   accepted, not used yet
${COMMON_HELP}`;

export function readConfig(env: Env = process.env) {
  const e = envReader(env);
  const registryUrl = e.optionalUrl("NSM_REGISTRY_URL")?.href;
  if (!registryUrl) throw new ConfigError("NSM_REGISTRY_URL", "", "is required (this domain's registry)");
  const proxyRegistryUrl = e.optionalUrl("NSM_REGISTRY_PROXY_URL")?.href;
  if (!proxyRegistryUrl) throw new ConfigError("NSM_REGISTRY_PROXY_URL", "", "is required (registry-proxy-dns)");
  const dialTimeoutMs = e.duration("NSM_DIAL_TIMEOUT", "0s");
  return {
    ...readCommon(e, "nsmgr-proxy"),
    listenOn: e.urls("NSM_LISTEN_ON", ["unix:///listen.on.socket"]).map((u) => u.href),
    registryUrl,
    proxyRegistryUrl,
    mapIp: e.string("NSM_MAP_IP_FILE_PATH", "map-ip.yaml"),
    dialTimeoutMs: dialTimeoutMs > 0 ? dialTimeoutMs : 15_000,
  };
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const log = newLogger({ component: "nsmgr-proxy", level: cfg.logLevel });
  log.info(cfg, "configuration");
  const lc = lifecycle({ log });
  const p = await lc.start(createNsmgrProxy({ ...cfg, signal: lc.signal, log }), (x) => x.close());
  if (!p) return lc.exitCode;
  log.info({ url: p.url }, "Startup completed");
  return lc.shutdown(() => p.close());
}
