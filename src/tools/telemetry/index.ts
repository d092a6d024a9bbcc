/**
 * Telemetry of one component, as upstream's commands set it up: OpenTelemetry when `TELEMETRY`
 * is on, a Prometheus endpoint when `PROMETHEUS` is on, neither by default. The chain elements
 * that feed it live in src/networkservice/common/{metrics,trace,prometheus}; docs/telemetry.md
 * lists every metric.
 *
 *   const t = await startTelemetry(readTelemetryConfig(), { component: "forwarder", name: "fwd-1", log });
 *   ... createForwarder({ ..., telemetry: t }) ...
 *   await t.close();
 */
import type { Logger } from "../log.js";
import { readTelemetryConfig, TELEMETRY_HELP, type TelemetryConfig } from "./config.js";
import { startOtel, type Otel } from "./otel.js";
import { PromMetrics, servePrometheus, type PromServer } from "./prometheus.js";

export { readTelemetryConfig, TELEMETRY_HELP, type TelemetryConfig };
export { startOtel, type Otel, type OtelOptions } from "./otel.js";
export {
  INTERFACE_METRICS,
  parseListenOn,
  PromMetrics,
  servePrometheus,
  type InterfaceSample,
  type PromServer,
} from "./prometheus.js";

export interface Telemetry {
  /** OpenTelemetry meter + tracer (TELEMETRY=true) */
  readonly otel?: Otel;
  /** Prometheus metrics (PROMETHEUS=true) */
  readonly prom?: PromMetrics;
  /** where /metrics is served */
  readonly promServer?: PromServer;
  close(): Promise<void>;
}

export async function startTelemetry(
  cfg: TelemetryConfig,
  o: { component: string; name: string; log?: Logger },
): Promise<Telemetry> {
  const otel = cfg.telemetry
    ? startOtel({
        serviceName: o.name,
        component: o.component,
        endpoint: cfg.otelEndpoint,
        exportIntervalMs: cfg.exportIntervalMs,
      })
    : undefined;
  if (otel) o.log?.info({ endpoint: cfg.otelEndpoint }, "telemetry: OpenTelemetry on (OTLP/gRPC)");
  let prom: PromMetrics | undefined;
  let promServer: PromServer | undefined;
  if (cfg.prometheus) {
    prom = new PromMetrics({ component: o.component, name: o.name, prefix: cfg.prometheusPrefix });
    try {
      promServer = await servePrometheus(prom, cfg.prometheusListenOn);
    } catch (e) {
      await otel?.shutdown();
      throw new Error(`prometheus: cannot listen on ${cfg.prometheusListenOn}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    o.log?.info({ url: promServer.url }, `telemetry: Prometheus metrics on ${promServer.url}`);
  }
  return {
    otel,
    prom,
    promServer,
    async close() {
      await promServer?.close();
      await otel?.shutdown();
    },
  };
}
