/**
 * `nsm registry-proxy-dns` (cmd-registry-proxy-dns): the registry for interdomain names. Each
 * `name@domain` call goes to the registry of `domain`, found through DNS
 * (`registry.nsm-system.<domain>`, SRV + A) with the domain stripped; NSE Find results carry
 * the URL of the domain's nsmgr-proxy (`nsmgr-proxy.nsm-system.<domain>`). See docs/interdomain.md.
 */
import { serve } from "../core/index.js";
import { readLogConfig } from "../networkservice/cmdutil.js";
import { proxyDnsRegistry } from "../registry/chains/proxydns.js";
import { DnsResolver, parseDnsServer } from "../tools/dns/resolver.js";
import { ConfigError, envReader, type Env } from "../tools/env.js";
import { newLogger } from "../tools/log.js";
import { lifecycle } from "./lifecycle.js";

export const ENV_HELP = `nsm registry-proxy-dns — registry proxy for interdomain (name@domain) names, domains found through DNS

  NSM_LISTEN_ON            unix:///listen.on.socket   listen URLs (comma-separated; deploy: tcp://:5005)
  NSM_DNS_SERVER           (resolv.conf)              DNS server ip[:port]; default: the first nameserver of /etc/resolv.conf
  NSM_DNS_TIMEOUT          2s                         per DNS query (2 tries)
  NSM_REGISTRY_URL         (none)                     local registry for names without @domain (default: refused, as upstream)
  NSM_DIAL_TIMEOUT         750ms                      dial timeout to remote registries
  NSM_LOG_LEVEL            INFO                       TRACE, DEBUG, INFO, WARN, ERROR, FATAL, PANIC
  NSM_LOG_FORMAT           (tty)                      text | json
  NSM_REGISTRY_SERVER_POLICIES / NSM_REGISTRY_CLIENT_POLICIES   accepted, not used yet
Without certificates gRPC is plaintext.`;

export function readConfig(env: Env = process.env) {
  const e = envReader(env);
  const dnsServer = e.optional("NSM_DNS_SERVER");
  if (dnsServer) {
    try {
      parseDnsServer(dnsServer);
    } catch (err) {
      throw new ConfigError("NSM_DNS_SERVER", dnsServer, (err as Error).message);
    }
  }
  return {
    listenOn: e.urls("NSM_LISTEN_ON", ["unix:///listen.on.socket"]).map((u) => u.href),
    dnsServer,
    dnsTimeoutMs: e.duration("NSM_DNS_TIMEOUT", "2s"),
    localRegistryUrl: e.optionalUrl("NSM_REGISTRY_URL")?.href,
    dialTimeoutMs: e.duration("NSM_DIAL_TIMEOUT", "750ms"),
    logLevel: readLogConfig(e),
  };
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const log = newLogger({ component: "registry-proxy-dns", level: cfg.logLevel });
  log.info(cfg, "configuration");
  const lc = lifecycle({ log });
  const dns = new DnsResolver({ server: cfg.dnsServer, timeoutMs: cfg.dnsTimeoutMs });
  const proxy = proxyDnsRegistry({
    dns,
    selfUrls: cfg.listenOn,
    localRegistryUrl: cfg.localRegistryUrl,
    dialTimeoutMs: cfg.dialTimeoutMs,
  });
  const server = await lc.start(serve(cfg.listenOn, { nseRegistry: proxy.nse, nsRegistry: proxy.ns }, { log }), (s) =>
    s.close(),
  );
  if (!server) {
    proxy.close();
    return lc.exitCode;
  }
  log.info({ listenOn: server.urls.map((u) => u.href) }, "Startup completed");
  return lc.shutdown(async () => {
    await server.close();
    proxy.close();
  });
}
