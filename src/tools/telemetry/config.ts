/**
 * Telemetry settings, named as upstream's commands name them: `TELEMETRY` turns OpenTelemetry on
 * (traces + metrics pushed over OTLP/gRPC), `PROMETHEUS` turns on a scrape endpoint.
 *
 *   const t = readTelemetryConfig(process.env); // { telemetry: false, prometheus: false, ... }
 */
import { envReader, type Env } from "../env.js";

export interface TelemetryConfig {
  /** TELEMETRY: OpenTelemetry traces and metrics */
  telemetry: boolean;
  /** NSM_OPEN_TELEMETRY_ENDPOINT: OTLP/gRPC collector, host:port */
  otelEndpoint: string;
  /** NSM_METRICS_EXPORT_INTERVAL */
  exportIntervalMs: number;
  /** PROMETHEUS: serve /metrics */
  prometheus: boolean;
  /** NSM_PROMETHEUS_LISTEN_ON: [host]:port (":0" picks a free port; the log names it) */
  prometheusListenOn: string;
  /** PROMETHEUS_METRICS_PREFIX: prepended (with "_") to the interface counters' names */
  prometheusPrefix: string;
}

export function readTelemetryConfig(env: Env = process.env): TelemetryConfig {
  const e = envReader(env);
  return {
    telemetry: e.bool("TELEMETRY", false),
    otelEndpoint: e.string("NSM_OPEN_TELEMETRY_ENDPOINT", "otel-collector.observability.svc.cluster.local:4317"),
    exportIntervalMs: e.duration("NSM_METRICS_EXPORT_INTERVAL", "10s"),
    prometheus: e.bool("PROMETHEUS", false),
    prometheusListenOn: e.string("NSM_PROMETHEUS_LISTEN_ON", ":8081"),
    prometheusPrefix: e.string("PROMETHEUS_METRICS_PREFIX", ""),
  };
}

export const TELEMETRY_HELP = `  TELEMETRY                     false    OpenTelemetry traces and metrics, pushed over OTLP/gRPC
  NSM_OPEN_TELEMETRY_ENDPOINT   otel-collector.observability.svc.cluster.local:4317   OTLP collector host:port
  NSM_METRICS_EXPORT_INTERVAL   10s      metrics push period
  PROMETHEUS                    false    serve Prometheus metrics on http://<NSM_PROMETHEUS_LISTEN_ON>/metrics
  NSM_PROMETHEUS_LISTEN_ON      :8081    [host]:port of the Prometheus endpoint (:0 = any free port, logged)
  PROMETHEUS_METRICS_PREFIX     (none)   prefix of the per-connection interface counters`;
