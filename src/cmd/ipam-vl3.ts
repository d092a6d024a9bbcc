/**
 * `nsm ipam-vl3`: the vL3 IPAM service (upstream cmd-ipam-vl3): `ipam.IPAM/ManagePrefixes` handing
 * each vL3 endpoint a block of NSM_CLIENT_PREFIX_LEN from NSM_PREFIX, given back when its
 * stream ends.
 */
import { serveIpam } from "../networkservice/vl3ipam/server.js";
import { readLogConfig } from "../networkservice/cmdutil.js";
import { parsePrefix } from "../networkservice/utils/ip.js";
import { ConfigError, envReader, type Env } from "../tools/env.js";
import { newLogger } from "../tools/log.js";
import { lifecycle } from "./lifecycle.js";

export const ENV_HELP = `nsm ipam-vl3 — prefix service for vL3 endpoints

  NSM_LISTEN_ON            tcp://:5006      where to serve ipam.IPAM (tcp:// or unix://, comma separated)
  NSM_PREFIX               172.16.0.0/16    the pool the endpoints' prefixes come from
  NSM_CLIENT_PREFIX_LEN    24               length of each endpoint's prefix
  NSM_EXCLUDE_PREFIXES     (none)           prefixes never handed out (ours), comma separated
  NSM_LOG_LEVEL            INFO             TRACE, DEBUG, INFO, WARN, ERROR, FATAL, PANIC
  NSM_LOG_FORMAT           (tty)            text | json`;

export function readConfig(env: Env = process.env) {
  const e = envReader(env);
  const logLevel = readLogConfig(e);
  const prefix = e.string("NSM_PREFIX", "172.16.0.0/16");
  let p;
  try {
    p = parsePrefix(prefix);
  } catch (err) {
    throw new ConfigError("NSM_PREFIX", prefix, (err as Error).message);
  }
  const len = e.int("NSM_CLIENT_PREFIX_LEN", 24);
  if (len < p.len || len > (p.v6 ? 128 : 32))
    throw new ConfigError("NSM_CLIENT_PREFIX_LEN", String(len), `must lie between ${p.len} and ${p.v6 ? 128 : 32}`);
  const exclude = e.list("NSM_EXCLUDE_PREFIXES", []);
  for (const x of exclude)
    try {
      parsePrefix(x);
    } catch (err) {
      throw new ConfigError("NSM_EXCLUDE_PREFIXES", x, (err as Error).message);
    }
  return {
    logLevel,
    listenOn: e.urls("NSM_LISTEN_ON", ["tcp://:5006"]).map((u) => u.href),
    prefix,
    clientPrefixLen: len,
    excludePrefixes: exclude,
  };
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const log = newLogger({ component: "ipam-vl3", level: cfg.logLevel });
  log.info(cfg, "configuration");
  const lc = lifecycle({ log });
  const close = (s: Awaited<ReturnType<typeof serveIpam>>) => s.close();
  const srv = await lc.start(serveIpam({ ...cfg, log }), close);
  if (!srv) return lc.exitCode;
  log.info({ urls: srv.urls.map((u) => u.href) }, "Startup completed");
  return lc.shutdown(() => close(srv));
}
