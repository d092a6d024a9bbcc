/**
 * `nsm nsc`: requests every NSM_NETWORK_SERVICES URL from the local nsmgr and keeps the
 * connections (refresh, heal) until stopped, then closes them. A connection left by
 * `nsm nsc-init` (or a previous nsc) with the same NSM_NAME in the same network namespace is
 * adopted through MonitorConnection; one that belongs to another namespace or a live process never is.
 */
import {
  clone,
  kernel,
  ConnectionSchema,
  ConnectionState,
  create,
  MonitorScopeSelectorSchema,
  NetworkServiceRequestSchema,
  type Connection,
  type NetworkServiceRequest,
} from "../api/index.js";
import { dial, messageOf, newCtx, NsmError, status, type ClientElement, type GrpcConn } from "../core/index.js";
import { kernelLivenessCheck } from "../networkservice/common/heal/liveness.js";
import { dnsContextClient } from "../networkservice/common/dnscontext/client.js";
import { cache, dnsChain, dnsConfigs, fanout, noLoop, searches } from "../tools/dns/handlers.js";
import { takeOverResolvConf, workloadResolvConf } from "../tools/dns/resolvconf.js";
import { listenAndServe, splitHostPort } from "../tools/dns/wire.js";
import { createClient } from "../networkservice/components.js";
import { clientDefaultName, COMMON_HELP, readCommon } from "../networkservice/cmdutil.js";
import { netnsIdentity } from "../networkservice/utils/netnsowner.js";
import { parseNsUrl, requestFromNsUrl, type NsUrl } from "../networkservice/utils/nsurl.js";
import { ConfigError, envReader, type Env } from "../tools/env.js";
import { readTelemetryConfig, startTelemetry, TELEMETRY_HELP } from "../tools/telemetry/index.js";
import { newLogger, type Logger } from "../tools/log.js";
import { lifecycle } from "./lifecycle.js";

export const ENV_HELP = `nsm nsc — network service client

  NSM_NAME                       nsc-<netns inode>                               client name, one per workload; connection ids are <name>-<i>
  NSM_CONNECT_TO                 unix:///var/lib/networkservicemesh/nsm.io.sock  nsmgr URL
  NSM_NETWORK_SERVICES           (required)                                      kernel://<service>[@<domain>]/<ifname>?<label>=<value>,...
  NSM_DIAL_TIMEOUT               5s                                              dial timeout
  NSM_REQUEST_TIMEOUT            15s                                             per Request/Close timeout
  NSM_NETNS_URL                  file:///proc/<pid>/ns/net                       our netns as the forwarder should open it (ours)
  NSM_LIVENESS_CHECK_ENABLED     true                                            heal pings the connection's peer (ICMP from our netns); keeps the path while it answers
  NSM_LIVENESS_CHECK_INTERVAL    200ms                                           how often the data plane is checked
  NSM_LIVENESS_CHECK_TIMEOUT     1s                                              how long one check waits for an answer
  NSM_LOCAL_DNS_SERVER_ENABLED   true                                            run the local DNS proxy and point resolv.conf at it
  NSM_LOCAL_DNS_SERVER_ADDRESS   127.0.0.1:53                                    where the DNS proxy listens (UDP + TCP)
  NSM_RESOLV_CONF                /etc/resolv.conf                                the workload's resolv.conf (ours); in a named netns /etc/netns/<name>/resolv.conf
  NODE_NAME, POD_NAME, CLUSTER_NAME                                              become labels nodeName, podName, clusterName
${TELEMETRY_HELP}
${COMMON_HELP}`;

/** the default NSM_NAME: one per network namespace (see clientDefaultName) */
export const defaultName = clientDefaultName;

export function readConfig(env: Env = process.env, dflt = defaultName()) {
  const e = envReader(env);
  const c = readCommon(e, dflt);
  const raw = e.list("NSM_NETWORK_SERVICES", []);
  if (!raw.length)
    throw new ConfigError(
      "NSM_NETWORK_SERVICES",
      "",
      "at least one network service URL is required (e.g. kernel://icmp-responder/nsm-1)",
    );
  const services = raw.map((u) => {
    try {
      return parseNsUrl(u);
    } catch (err) {
      throw new ConfigError("NSM_NETWORK_SERVICES", u, (err as Error).message);
    }
  });
  return {
    ...c,
    nsmgrUrl: e.url("NSM_CONNECT_TO", "unix:///var/lib/networkservicemesh/nsm.io.sock").href,
    services,
    dialTimeoutMs: e.duration("NSM_DIAL_TIMEOUT", "5s"),
    requestTimeoutMs: e.duration("NSM_REQUEST_TIMEOUT", "15s"),
    netnsUrl: e.string("NSM_NETNS_URL", `file:///proc/${process.pid}/ns/net`),
    livenessCheck: e.bool("NSM_LIVENESS_CHECK_ENABLED", true),
    livenessIntervalMs: e.duration("NSM_LIVENESS_CHECK_INTERVAL", "200ms"),
    livenessTimeoutMs: e.duration("NSM_LIVENESS_CHECK_TIMEOUT", "1s"),
    localDns: e.bool("NSM_LOCAL_DNS_SERVER_ENABLED", true),
    localDnsAddress: localDnsAddress(e.string("NSM_LOCAL_DNS_SERVER_ADDRESS", "127.0.0.1:53")),
    resolvConf: e.string("NSM_RESOLV_CONF", workloadResolvConf()),
  };
}

function localDnsAddress(v: string): string {
  try {
    splitHostPort(v);
    return v;
  } catch (err) {
    throw new ConfigError("NSM_LOCAL_DNS_SERVER_ADDRESS", v, (err as Error).message);
  }
}

/**
 * The local DNS proxy (upstream cmd-nsc): resolv.conf points at it, and it asks, at once, every
 * DNS server the connections brought and the original ones, trying the search domains in turn.
 */
async function startLocalDns(cfg: ReturnType<typeof readConfig>, log: Logger) {
  const host = splitHostPort(cfg.localDnsAddress).host;
  // the servers to ask are read when a query comes: the original ones are known only after the takeover
  let store: ReturnType<typeof dnsContextClient> | undefined;
  // listen first: a proxy that cannot listen must not touch resolv.conf
  const srv = await listenAndServe(
    cfg.localDnsAddress,
    dnsChain(
      dnsConfigs(() => store?.configs() ?? []),
      searches(),
      noLoop(),
      cache(),
      fanout(),
    ),
  );
  let rc;
  try {
    rc = takeOverResolvConf(cfg.resolvConf, host);
  } catch (e) {
    await srv.close();
    throw e;
  }
  const o = rc.original;
  store = dnsContextClient(
    o.nameservers.length && !o.nameservers.includes(host)
      ? { dnsServerIps: o.nameservers, searchDomains: o.search }
      : undefined,
  );
  log.info({ address: cfg.localDnsAddress, resolvConf: cfg.resolvConf }, "local DNS proxy serving");
  return {
    element: store,
    close: async () => {
      await srv.close();
      rc.restore();
    },
  };
}

/** A client's mistake the mesh will not fix by itself: retrying cannot help. */
export class FatalRequestError extends Error {}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * Whether we may adopt `found` (a connection nsmgr knows under our id): only if it lives in our
 * namespace (or its namespace is gone) and no other live process named it as its own.
 */
export function adoptable(found: Connection, ourNetnsUrl: string): { ok: true } | { ok: false; why: string } {
  const theirUrl = found.mechanism?.type === kernel.MECHANISM ? kernel.netnsUrlOf(found.mechanism) : undefined;
  if (!theirUrl) return { ok: true };
  const theirs = netnsIdentity(theirUrl);
  const ours = netnsIdentity(ourNetnsUrl);
  if (theirs && ours && theirs !== ours)
    return { ok: false, why: `it belongs to another network namespace (${theirUrl})` };
  const pid = /^file:\/\/\/proc\/(\d+)\/ns\/net$/.exec(theirUrl)?.[1];
  if (pid && Number(pid) !== process.pid && isAlive(Number(pid)))
    return { ok: false, why: `it belongs to a live process (pid ${pid}) in this namespace` };
  return { ok: true };
}

/**
 * The request for service `i`: a connection already known to nsmgr under id `<name>-i` with the
 * same mechanism (left by nsc-init or a previous nsc) is reused; a DOWN one is reselected.
 */
export async function buildRequest(
  mgr: GrpcConn,
  u: NsUrl,
  id: string,
  netnsUrl: string,
  windowMs: number,
  log: Logger,
): Promise<NetworkServiceRequest> {
  const req = requestFromNsUrl(u, id, { netnsUrl });
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), windowMs);
  try {
    const sel = create(MonitorScopeSelectorSchema, { pathSegments: [{ id }] });
    for await (const ev of mgr.monitor.monitorConnections(sel, newCtx({ signal: ac.signal }))) {
      const found = Object.values(ev.connections).find(
        (c: Connection) =>
          c.path?.index === 1 && c.path.pathSegments[0]?.id === id && c.mechanism?.type === u.mechanism,
      );
      const may = found && adoptable(found, netnsUrl);
      if (may && !may.ok)
        throw new FatalRequestError(
          `connection id ${id} is in use: ${may.why}; give each client its own NSM_NAME (default: one per namespace)`,
        );
      if (found) {
        const conn = clone(ConnectionSchema, found);
        conn.path!.index = 0;
        conn.id = id;
        if (conn.state === ConnectionState.DOWN) {
          conn.mechanism = undefined;
          conn.networkServiceEndpointName = "";
          conn.state = ConnectionState.RESELECT_REQUESTED;
        }
        log.info({ connId: id, nse: conn.networkServiceEndpointName }, "adopting an existing connection");
        req.connection = conn;
      }
      break; // the initial state transfer is all we need
    }
  } catch (e) {
    if (e instanceof FatalRequestError) throw e;
    log.debug({ connId: id, err: messageOf(e) }, "no existing connection found (monitor failed)");
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return req;
}

/** The success line: our interface and addresses, the endpoint and its addresses. */
export function describe(conn: Connection): { msg: string; fields: Record<string, unknown> } {
  const ip = conn.context?.ipContext;
  const ifname = conn.mechanism ? kernel.ifnameOf(conn.mechanism) : undefined;
  const src = ip?.srcIpAddrs ?? [];
  const dst = ip?.dstIpAddrs ?? [];
  const ours = [ifname ?? conn.mechanism?.type ?? "?", ...src].join(" ");
  return {
    msg: `connected to ${conn.networkService}: ${ours} ↔ endpoint ${conn.networkServiceEndpointName}${dst.length ? ` ${dst.join(" ")}` : ""}`,
    fields: { connId: conn.id, ifname, ip: src, nse: conn.networkServiceEndpointName, nseIp: dst },
  };
}

/** Tells the user when a refresh or heal came back with other addresses than before (the endpoint's IPAM moved us). */
export function addressWatch(log: Logger): ClientElement {
  const last = new Map<string, string[]>();
  return {
    async request(req, ctx, next) {
      const conn = await next.request(req, ctx);
      const now = [...(conn.context?.ipContext?.srcIpAddrs ?? [])];
      const was = last.get(conn.id);
      if (was && was.join() !== now.join())
        log.warn({ connId: conn.id, was, now }, `our addresses changed: ${was.join(" ")} → ${now.join(" ")}`);
      last.set(conn.id, now);
      return conn;
    },
    async close(conn, ctx, next) {
      last.delete(conn.id);
      return next.close(conn, ctx);
    },
  };
}

/** retry pause after `attempt` failures: 200 ms doubling up to 5 s */
export const backoffMs = (attempt: number) => Math.min(5000, 200 * 2 ** Math.min(attempt - 1, 5));

const FATAL_CODES = new Set<number>([status.INVALID_ARGUMENT, status.PERMISSION_DENIED]);

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const log = newLogger({ component: "nsc", level: cfg.logLevel });
  log.info({ ...cfg, services: cfg.services.map((s) => s.url) }, "configuration");
  // a proxy that cannot start (port taken, resolv.conf not writable) costs the names, not the connections
  const dns = cfg.localDns
    ? await startLocalDns(cfg, log).catch((e: unknown) => {
        log.error(
          { err: messageOf(e), address: cfg.localDnsAddress },
          "local DNS proxy not started; resolv.conf left alone",
        );
        return undefined;
      })
    : undefined;
  const lc = lifecycle({ log });
  const heal = cfg.livenessCheck
    ? {
        livenessCheck: kernelLivenessCheck({ netnsUrl: cfg.netnsUrl, log }),
        livenessIntervalMs: cfg.livenessIntervalMs,
        livenessTimeoutMs: cfg.livenessTimeoutMs,
      }
    : {};
  const telemetry = await startTelemetry(readTelemetryConfig(), { component: "nsc", name: cfg.name, log });
  const nsc = await createClient({
    ...cfg,
    heal,
    signal: lc.signal,
    log,
    telemetry,
    onlyAskedMechanisms: true,
    extra: [addressWatch(log), ...(dns ? [dns.element] : [])],
  });
  const mgr = dial(cfg.nsmgrUrl, { dialTimeoutMs: cfg.dialTimeoutMs });
  const conns: Connection[] = [];
  const closeAll = async () => {
    // bounded by the lifecycle's grace period: a Close that cannot finish is cut short with the process
    const timeoutMs = Math.min(cfg.requestTimeoutMs, 3000);
    await Promise.all(
      conns.map(async (c) => {
        try {
          await nsc.client.close(c, newCtx({ timeoutMs, log }));
        } catch (e) {
          log.warn({ connId: c.id, err: messageOf(e) }, "close failed");
        }
      }),
    );
    mgr.close();
    await nsc.close();
    await dns?.close();
    await telemetry.close();
  };
  try {
    for (const [i, u] of cfg.services.entries()) {
      const id = `${cfg.name}-${i}`;
      const req = await buildRequest(mgr, u, id, cfg.netnsUrl, Math.min(cfg.requestTimeoutMs, 1000), log);
      for (let attempt = 1; !lc.signal.aborted; attempt++) {
        try {
          const conn = await nsc.client.request(
            clone(NetworkServiceRequestSchema, req),
            newCtx({ timeoutMs: cfg.requestTimeoutMs, log, signal: lc.signal }),
          );
          conns.push(conn);
          const d = describe(conn);
          log.info(d.fields, d.msg);
          break;
        } catch (e) {
          if (lc.signal.aborted) break;
          const err = NsmError.from(e);
          if (FATAL_CODES.has(err.code)) throw new FatalRequestError(`request for ${u.url}: ${err.message}`);
          const wait = backoffMs(attempt);
          log.warn({ connId: id, attempt, err: err.message, retryInMs: wait }, `request for ${u.url} failed, retrying`);
          await new Promise<void>((r) => {
            const t = setTimeout(r, wait);
            lc.signal.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
          });
        }
      }
    }
  } catch (e) {
    if (!(e instanceof FatalRequestError)) throw e;
    log.error(e.message);
    return lc.fail(closeAll);
  }
  return lc.shutdown(closeAll);
}
