/**
 * `nsm nsc`: requests every NSM_NETWORK_SERVICES URL from the local nsmgr and keeps the
 * connections (refresh, heal) until stopped, then closes them. A connection left by
 * `nsm nsc-init` (or a previous nsc) with the same NSM_NAME is adopted through MonitorConnection.
 */
import {
  clone,
  ConnectionSchema,
  ConnectionState,
  create,
  MonitorScopeSelectorSchema,
  NetworkServiceRequestSchema,
  type Connection,
  type NetworkServiceRequest,
} from "../api/index.js";
import { dial, messageOf, newCtx, type GrpcConn } from "../core/index.js";
import { createClient } from "../networkservice/components.js";
import { COMMON_HELP, readCommon, stopSignal } from "../networkservice/cmdutil.js";
import { parseNsUrl, requestFromNsUrl, type NsUrl } from "../networkservice/utils/nsurl.js";
import { ConfigError, envReader, type Env } from "../tools/env.js";
import { newLogger, type Logger } from "../tools/log.js";

export const ENV_HELP = `nsm nsc — network service client

  NSM_NAME                       nsc                                             client name; connection ids are <name>-<i>
  NSM_CONNECT_TO                 unix:///var/lib/networkservicemesh/nsm.io.sock  nsmgr URL
  NSM_NETWORK_SERVICES           (required)                                      kernel://<service>[@<domain>]/<ifname>?<label>=<value>,...
  NSM_DIAL_TIMEOUT               5s                                              dial timeout
  NSM_REQUEST_TIMEOUT            15s                                             per Request/Close timeout
  NSM_NETNS_URL                  file:///proc/<pid>/ns/net                       our netns as the forwarder should open it (ours)
  NSM_LIVENESS_CHECK_ENABLED     true                                            accepted, not implemented yet: heal always reselects
  NSM_LIVENESS_CHECK_INTERVAL    200ms
  NSM_LIVENESS_CHECK_TIMEOUT     1s
  NSM_LOCAL_DNS_SERVER_ENABLED   true                                            accepted; the DNS proxy is not built yet
  NODE_NAME, POD_NAME, CLUSTER_NAME                                              become labels nodeName, podName, clusterName
${COMMON_HELP}`;

export function readConfig(env: Env = process.env, defaultName = "nsc") {
  const e = envReader(env);
  const c = readCommon(e, defaultName);
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
  };
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
    log.debug({ connId: id, err: messageOf(e) }, "no existing connection found (monitor failed)");
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return req;
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const log = newLogger({ component: "nsc", level: cfg.logLevel });
  log.info({ ...cfg, services: cfg.services.map((s) => s.url) }, "configuration");
  if (cfg.localDns)
    log.warn("NSM_LOCAL_DNS_SERVER_ENABLED: the local DNS proxy is not built yet; resolv.conf is left alone");
  if (cfg.livenessCheck) log.warn("NSM_LIVENESS_CHECK_ENABLED: no data-plane check yet; healing always reselects");
  const ac = new AbortController();
  const nsc = await createClient({ ...cfg, signal: ac.signal, log });
  const mgr = dial(cfg.nsmgrUrl, { dialTimeoutMs: cfg.dialTimeoutMs });
  const conns: Connection[] = [];
  const stopping = stopSignal(ac.signal);
  let stopped = false;
  void stopping.then(() => {
    stopped = true;
  });
  try {
    for (const [i, u] of cfg.services.entries()) {
      const id = `${cfg.name}-${i}`;
      const req = await buildRequest(mgr, u, id, cfg.netnsUrl, Math.min(cfg.requestTimeoutMs, 1000), log);
      for (let attempt = 1; !stopped; attempt++) {
        try {
          const conn = await nsc.client.request(
            clone(NetworkServiceRequestSchema, req),
            newCtx({ timeoutMs: cfg.requestTimeoutMs, log }),
          );
          conns.push(conn);
          log.info(
            { connId: conn.id, nse: conn.networkServiceEndpointName, ip: conn.context?.ipContext?.srcIpAddrs },
            `connected to ${u.networkService}`,
          );
          break;
        } catch (e) {
          log.error({ connId: id, attempt, err: messageOf(e) }, `request for ${u.url} failed, retrying`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
    const sig = await stopping;
    log.info({ signal: sig }, "stopping: closing connections");
  } finally {
    for (const c of conns) {
      try {
        await nsc.client.close(c, newCtx({ timeoutMs: cfg.requestTimeoutMs, log }));
      } catch (e) {
        log.warn({ connId: c.id, err: messageOf(e) }, "close failed");
      }
    }
    mgr.close();
    await nsc.close();
  }
  return 0;
}
