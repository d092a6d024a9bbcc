/**
 * prometheusServer (every server with PROMETHEUS on): times each Request and Close
 * (nsm_request_duration_seconds{kind="request"|"refresh"|"close"}), counts failures by gRPC code
 * (nsm_request_errors_total), keeps nsm_connections, and feeds the per-connection interface
 * counters: from `interfaceCounters` (the forwarder: its datapath's live figures, read at scrape
 * time) or else from the path segment metrics the last Request returned. Place it first, outside
 * the endpoint chain: ids are the caller's, our segment is the one after the caller's.
 *
 *   const el = prometheusServer(prom, { interfaceCounters: (id) => backend.metrics?.(...) });
 */
import type { Connection } from "../../../api/index.js";
import { NsmError, type ServerElement } from "../../../core/index.js";
import type { PromMetrics } from "../../../tools/telemetry/index.js";

interface Live {
  /** our path segment's id (the datapath's key) */
  ours: string;
  networkService: string;
  nsc: string;
  metrics: Record<string, string>;
}

export interface PrometheusServerOptions {
  /** live interface counters of our segment `id` (path segment metric names), if this hop has any */
  interfaceCounters?: (id: string) => Promise<Record<string, string> | undefined>;
  /**
   * is our segment `id` still a live connection here? (the monitor's view) Connections closed
   * inside the chain (timeout, a lost next hop) never pass this element; they are dropped at scrape
   */
  alive?: (id: string) => boolean;
}

/** path segment metrics that describe interfaces, latest hop that has them wins */
export function interfaceMetrics(conn: Connection): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of conn.path?.pathSegments ?? [])
    if (Object.keys(s.metrics).some((k) => /^(server|client)_(rx|tx)_/.test(k))) Object.assign(out, s.metrics);
  return out;
}

export const codeOf = (e: unknown): string => String(NsmError.from(e).code);

export function prometheusServer(prom: PromMetrics, o: PrometheusServerOptions = {}): ServerElement {
  const live = new Map<string, Live>();
  const prune = () => {
    if (!o.alive) return;
    for (const [k, l] of live) if (!o.alive(l.ours)) live.delete(k);
    prom.connections.set(live.size);
  };
  prom.onCollect(prune);
  prom.addInterfaceSource(async () => {
    prune();
    return Promise.all(
      [...live.values()].map(async (l) => ({
        connectionId: l.ours,
        networkService: l.networkService,
        nsc: l.nsc,
        metrics: (o.interfaceCounters && (await o.interfaceCounters(l.ours).catch(() => undefined))) ?? l.metrics,
      })),
    );
  });
  return {
    async request(req, ctx, next) {
      const id = req.connection?.id ?? "";
      const kind = live.has(id) ? "refresh" : "request";
      const end = prom.requestDuration.startTimer({ kind });
      let conn: Connection;
      try {
        conn = await next.request(req, ctx);
      } catch (e) {
        prom.errors.inc({ kind, code: codeOf(e) });
        throw e;
      }
      end();
      const path = conn.path;
      const ours = path?.pathSegments[path.index + 1]?.id ?? conn.id;
      live.set(id, {
        ours,
        networkService: conn.networkService,
        nsc: path?.pathSegments[0]?.name ?? "",
        metrics: interfaceMetrics(conn),
      });
      prom.connections.set(live.size);
      return conn;
    },
    async close(conn, ctx, next) {
      const end = prom.requestDuration.startTimer({ kind: "close" });
      try {
        await next.close(conn, ctx);
        end();
      } catch (e) {
        prom.errors.inc({ kind: "close", code: codeOf(e) });
        throw e;
      } finally {
        live.delete(conn.id);
        prom.connections.set(live.size);
      }
    },
  };
}
