/**
 * The Prometheus side of telemetry (prom-client): one registry per component with
 *   nsm_request_duration_seconds{kind}   Request latency; kind = request (first), refresh, close
 *   nsm_heal_duration_seconds            from the moment healing starts until the connection is back
 *   nsm_request_errors_total{kind,code}  failed Requests/Closes by gRPC status code
 *   nsm_heals_total{reason}              heals started
 *   nsm_connections                      live connections through this component
 * and the per-connection interface counters upstream's forwarder exports
 *   [<prefix>_]{server,client}_{rx_bytes,tx_bytes,rx_packets,tx_packets,drops}_total
 *   {connection_id, network_service, nsc, nsc_interface, nse_interface}
 * read at scrape time from `interfaces` (the forwarder: its datapath backend's live counters).
 *
 *   const prom = new PromMetrics({ component: "forwarder", name: "fwd-1" });
 *   const srv = await servePrometheus(prom, ":8081"); // srv.url = "http://0.0.0.0:8081/metrics"
 */
import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** One connection's interface counters: the path segment metric names (server_rx_bytes, ...) and values. */
export interface InterfaceSample {
  connectionId: string;
  networkService: string;
  /** the client's name (first path segment) */
  nsc: string;
  metrics: Readonly<Record<string, string>>;
}

export const INTERFACE_METRICS = ["rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "drops"] as const;

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class PromMetrics {
  readonly registry = new Registry();
  readonly requestDuration: Histogram<"kind">;
  readonly healDuration: Histogram;
  readonly errors: Counter<"kind" | "code">;
  readonly heals: Counter<"reason">;
  readonly connections: Gauge;
  private sources: (() => Promise<InterfaceSample[]>)[] = [];
  private pending: Promise<InterfaceSample[]> | undefined;
  private hooks: (() => void)[] = [];

  constructor(o: { component: string; name: string; prefix?: string; processMetrics?: boolean }) {
    this.registry.setDefaultLabels({ component: o.component, name: o.name });
    if (o.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.requestDuration = new Histogram({
      name: "nsm_request_duration_seconds",
      help: "Request/Close latency through this component; kind: request (first), refresh, close",
      labelNames: ["kind"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.healDuration = new Histogram({
      name: "nsm_heal_duration_seconds",
      help: "time from the start of healing until the connection is back",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.errors = new Counter({
      name: "nsm_request_errors_total",
      help: "failed Requests/Closes by kind and gRPC status code",
      labelNames: ["kind", "code"],
      registers,
    });
    this.heals = new Counter({
      name: "nsm_heals_total",
      help: "heals started, by reason",
      labelNames: ["reason"],
      registers,
    });
    const hooks = () => this.hooks;
    this.connections = new Gauge({
      name: "nsm_connections",
      help: "live connections through this component",
      registers,
      collect() {
        for (const h of hooks()) h();
      },
    });
    const prefix = o.prefix ? `${o.prefix}_` : "";
    const labelNames = ["connection_id", "network_service", "nsc", "nsc_interface", "nse_interface"] as const;
    // one scrape (text()) reads the sources once, however many counters are collected
    const samples = () => (this.pending ??= this.read());
    for (const side of ["server", "client"] as const)
      for (const m of INTERFACE_METRICS) {
        const key = `${side}_${m}`;
        new Counter({
          name: `${prefix}${key}_total`,
          help: `${side === "server" ? "client-facing (NSC side)" : "endpoint-facing (NSE side)"} interface ${m.replace("_", " ")}`,
          labelNames,
          registers,
          async collect() {
            this.reset();
            for (const s of await samples()) {
              const v = Number(s.metrics[key]);
              if (!Number.isFinite(v) || v < 0) continue;
              this.inc(
                {
                  connection_id: s.connectionId,
                  network_service: s.networkService,
                  nsc: s.nsc,
                  nsc_interface: s.metrics.server_interface ?? "",
                  nse_interface: s.metrics.client_interface ?? "",
                },
                v,
              );
            }
          },
        });
      }
  }

  /** runs `fn` before nsm_connections is collected (elements drop connections closed behind their back) */
  onCollect(fn: () => void): void {
    this.hooks.push(fn);
  }

  /** adds a source of interface counters, read at every scrape; returns its removal */
  addInterfaceSource(read: () => Promise<InterfaceSample[]>): () => void {
    this.sources.push(read);
    return () => {
      this.sources = this.sources.filter((s) => s !== read);
    };
  }

  private async read(): Promise<InterfaceSample[]> {
    const all = await Promise.all(this.sources.map((s) => s().catch(() => [] as InterfaceSample[])));
    return all.flat();
  }

  /** the text exposition format, as a scrape gets it */
  text(): Promise<string> {
    this.pending = undefined;
    return this.registry.metrics();
  }
}

export interface PromServer {
  /** http://host:port/metrics with the bound port */
  readonly url: string;
  close(): Promise<void>;
}

/** `[host]:port` (`:8081`, `127.0.0.1:0`, `[::1]:9090`) → host and port; an empty host = every address. */
export function parseListenOn(listenOn: string): { host?: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listenOn.replace(/^[a-z]+:\/\//, ""));
  if (!m) throw new Error(`prometheus: listen address "${listenOn}" is not [host]:port`);
  const host = m[1] ?? m[2];
  return { host: host || undefined, port: Number(m[3]) };
}

/** Serves GET /metrics (anything else: 404) on `listenOn`. */
export async function servePrometheus(prom: PromMetrics, listenOn: string): Promise<PromServer> {
  const { host, port } = parseListenOn(listenOn);
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || !req.url?.startsWith("/metrics")) {
      res.writeHead(404).end("not found: try /metrics\n");
      return;
    }
    prom.text().then(
      (body) => res.writeHead(200, { "content-type": prom.registry.contentType }).end(body),
      (e: unknown) => res.writeHead(500).end(`${(e as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address();
  const bound = typeof a === "object" && a ? a : { address: host ?? "0.0.0.0", port, family: "IPv4" };
  const h = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${h}:${bound.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
