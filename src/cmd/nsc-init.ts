/**
 * `nsm nsc-init`: the init-container client: requests every NSM_NETWORK_SERVICES URL once (with
 * retries), then exits leaving the connections in place; an `nsm nsc` with the same NSM_NAME (by
 * default both are named after the network namespace) adopts them (until then they live until their tokens expire).
 */
import { clone, NetworkServiceRequestSchema, type Connection } from "../api/index.js";
import { getProcessIdentity, messageOf, newCtx } from "../core/index.js";
import { client } from "../networkservice/chains/client.js";
import { clientInfoClient } from "../networkservice/common/clientinfo/client.js";
import { kernelMechanismClient } from "../networkservice/common/mechanisms/kernel/client.js";
import { retryClient } from "../networkservice/common/retry/client.js";
import { clientDefaultName, COMMON_HELP, readCommon } from "../networkservice/cmdutil.js";
import { parseNsUrl, requestFromNsUrl } from "../networkservice/utils/nsurl.js";
import { ConfigError, envReader, type Env } from "../tools/env.js";
import { newLogger } from "../tools/log.js";
import { newTokenGenerator } from "../tools/token/index.js";

export const ENV_HELP = `nsm nsc-init — request network services once and exit, leaving the connections

  NSM_NAME               nsc-<netns inode>                               client name, as nsm nsc's default: an nsc in the same netns adopts the connections
  NSM_CONNECT_TO         unix:///var/lib/networkservicemesh/nsm.io.sock  nsmgr URL
  NSM_NETWORK_SERVICES   (required)                                      kernel://<service>/<ifname>?<label>=<value>,...
  NSM_DIAL_TIMEOUT       5s
  NSM_REQUEST_TIMEOUT    15s                                             per-try timeout (retried every 200 ms)
  NSM_NETNS_URL          file:///proc/<pid>/ns/net                       our netns; set a bind mount (file:///run/netns/x) since we exit
${COMMON_HELP}`;

export function readConfig(env: Env = process.env) {
  const e = envReader(env);
  const c = readCommon(e, clientDefaultName());
  const raw = e.list("NSM_NETWORK_SERVICES", []);
  if (!raw.length) throw new ConfigError("NSM_NETWORK_SERVICES", "", "at least one network service URL is required");
  return {
    ...c,
    nsmgrUrl: e.url("NSM_CONNECT_TO", "unix:///var/lib/networkservicemesh/nsm.io.sock").href,
    services: raw.map((u) => {
      try {
        return parseNsUrl(u);
      } catch (err) {
        throw new ConfigError("NSM_NETWORK_SERVICES", u, (err as Error).message);
      }
    }),
    dialTimeoutMs: e.duration("NSM_DIAL_TIMEOUT", "5s"),
    requestTimeoutMs: e.duration("NSM_REQUEST_TIMEOUT", "15s"),
    netnsUrl: e.string("NSM_NETNS_URL", `file:///proc/${process.pid}/ns/net`),
  };
}

/** Requests every service once; resolves with the connections (left open). */
export async function requestOnce(
  cfg: ReturnType<typeof readConfig>,
  o: { signal?: AbortSignal; totalTimeoutMs?: number; log?: ReturnType<typeof newLogger> } = {},
): Promise<Connection[]> {
  const life = new AbortController();
  const tokens = await newTokenGenerator({
    name: cfg.name,
    maxLifetimeMs: cfg.maxTokenLifetimeMs,
    source: getProcessIdentity(),
  });
  // upstream nsc-init: no refresh, no heal
  const c = client({
    name: cfg.name,
    signal: life.signal,
    tokens,
    connectTo: cfg.nsmgrUrl,
    dialTimeoutMs: cfg.dialTimeoutMs,
    refresh: false,
    heal: false,
    extra: [clientInfoClient(), kernelMechanismClient({ netnsUrl: cfg.netnsUrl })],
  });
  const r = retryClient(c, { tryTimeoutMs: cfg.requestTimeoutMs });
  try {
    const out: Connection[] = [];
    for (const [i, u] of cfg.services.entries()) {
      const req = requestFromNsUrl(u, `${cfg.name}-${i}`, { netnsUrl: cfg.netnsUrl });
      const conn = await r.request(
        clone(NetworkServiceRequestSchema, req),
        newCtx({ signal: o.signal, timeoutMs: o.totalTimeoutMs ?? cfg.requestTimeoutMs * 4, log: o.log }),
      );
      out.push(conn);
    }
    return out;
  } finally {
    life.abort();
    c.dispose();
  }
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const log = newLogger({ component: "nsc-init", level: cfg.logLevel });
  log.info({ ...cfg, services: cfg.services.map((s) => s.url) }, "configuration");
  try {
    const conns = await requestOnce(cfg, { log });
    for (const c of conns)
      log.info(
        { connId: c.id, nse: c.networkServiceEndpointName, ip: c.context?.ipContext?.srcIpAddrs },
        "connection ready",
      );
    return 0;
  } catch (e) {
    log.error({ err: messageOf(e) }, "request failed");
    return 1;
  }
}
