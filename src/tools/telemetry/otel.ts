/**
 * The OpenTelemetry side of telemetry: a meter and a tracer whose data is pushed over OTLP/gRPC
 * (plaintext) to NSM_OPEN_TELEMETRY_ENDPOINT, metrics every NSM_METRICS_EXPORT_INTERVAL, spans in
 * batches. Nothing global is installed: the component hands the meter and tracer to its chain
 * elements (upstream does the same through its opentelemetry package, with global providers).
 *
 *   const otel = startOtel({ serviceName: "nsmgr-0", endpoint: "collector:4317", exportIntervalMs: 10_000 });
 *   otel.meter.createCounter("x").add(1);
 *   await otel.shutdown(); // flushes
 */
import { credentials } from "@grpc/grpc-js";
import type { Meter, Tracer } from "@opentelemetry/api";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-grpc";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from "@opentelemetry/sdk-metrics";
import { BatchSpanProcessor, TracerProvider, type SpanExporter } from "@opentelemetry/sdk-trace";

export interface OtelOptions {
  /** service.name of the resource: the component's NSM_NAME */
  serviceName: string;
  /** component kind (nsmgr, forwarder, ...), resource attribute nsm.component */
  component?: string;
  /** host:port of the OTLP/gRPC collector */
  endpoint: string;
  exportIntervalMs: number;
  /** other exporters (tests: in-memory); default OTLP/gRPC to `endpoint` */
  metricExporter?: PushMetricExporter;
  spanExporter?: SpanExporter;
}

export interface Otel {
  readonly meter: Meter;
  readonly tracer: Tracer;
  /** exports what is pending now */
  flush(): Promise<void>;
  /** flushes and stops the exporters */
  shutdown(): Promise<void>;
}

const SCOPE = "nsm-ts";

export function otlpUrl(endpoint: string): string {
  return /^[a-z]+:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`;
}

export function startOtel(o: OtelOptions): Otel {
  const resource = resourceFromAttributes({
    "service.name": o.serviceName,
    ...(o.component ? { "nsm.component": o.component } : {}),
  });
  const url = otlpUrl(o.endpoint);
  const insecure = credentials.createInsecure();
  const reader = new PeriodicExportingMetricReader({
    exporter: o.metricExporter ?? new OTLPMetricExporter({ url, credentials: insecure }),
    exportIntervalMillis: o.exportIntervalMs,
    exportTimeoutMillis: Math.min(o.exportIntervalMs, 30_000),
  });
  const meters = new MeterProvider({ resource, readers: [reader] });
  const spans = new BatchSpanProcessor({
    exporter: o.spanExporter ?? new OTLPTraceExporter({ url, credentials: insecure }),
    scheduledDelayMillis: Math.min(o.exportIntervalMs, 5000),
  });
  const tracers = new TracerProvider({ resource, spanProcessors: [spans] });
  return {
    meter: meters.getMeter(SCOPE),
    tracer: tracers.getTracer(SCOPE),
    async flush() {
      await Promise.all([meters.forceFlush(), tracers.forceFlush()]);
    },
    async shutdown() {
      await Promise.allSettled([meters.shutdown(), tracers.shutdown()]);
    },
  };
}
