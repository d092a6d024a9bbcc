import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { parseListenOn, readTelemetryConfig, startTelemetry } from "./index.js";

/** A real OTLP/gRPC receiver: keeps the raw bytes of every metrics and trace export it gets. */
async function otlpReceiver() {
  const got = { metrics: [] as Buffer[], traces: [] as Buffer[] };
  const raw = (path: string) => ({
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  });
  const server = new grpc.Server();
  const unary = (into: Buffer[]) => (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    into.push(call.request);
    cb(null, Buffer.alloc(0)); // an empty Export*ServiceResponse
  };
  server.addService(
    { Export: raw("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export") },
    { Export: unary(got.metrics) },
  );
  server.addService(
    { ExportTraces: raw("/opentelemetry.proto.collector.trace.v1.TraceService/Export") },
    { ExportTraces: unary(got.traces) },
  );
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  return { got, endpoint: `127.0.0.1:${port}`, close: () => server.forceShutdown() };
}

test("telemetry: off unless TELEMETRY / PROMETHEUS say so; upstream's names and defaults", () => {
  const c = readTelemetryConfig({});
  assert.deepEqual(c, {
    telemetry: false,
    otelEndpoint: "otel-collector.observability.svc.cluster.local:4317",
    exportIntervalMs: 10_000,
    prometheus: false,
    prometheusListenOn: ":8081",
    prometheusPrefix: "",
  });
  const on = readTelemetryConfig({ TELEMETRY: "true", PROMETHEUS: "true", NSM_METRICS_EXPORT_INTERVAL: "2s" });
  assert.equal(on.telemetry && on.prometheus, true);
  assert.equal(on.exportIntervalMs, 2000);
  assert.throws(() => readTelemetryConfig({ TELEMETRY: "maybe" }), /TELEMETRY/);
});

test("telemetry: metrics and spans reach an OTLP/gRPC collector", async (t) => {
  const rx = await otlpReceiver();
  t.after(rx.close);
  const tel = await startTelemetry(
    { ...readTelemetryConfig({}), telemetry: true, otelEndpoint: rx.endpoint, exportIntervalMs: 3_600_000 },
    { component: "nsmgr", name: "nsmgr-test" },
  );
  t.after(() => tel.close());
  assert.ok(tel.otel && !tel.prom);
  tel.otel.meter.createCounter("forwarder-0_server_rx_bytes").add(42);
  tel.otel.tracer.startSpan("NetworkService/Request").end();
  await tel.otel.flush();
  const metrics = Buffer.concat(rx.got.metrics);
  assert.ok(metrics.includes("forwarder-0_server_rx_bytes"), "the counter is in the export");
  assert.ok(metrics.includes("nsmgr-test"), "service.name is the component's name");
  assert.ok(Buffer.concat(rx.got.traces).includes("NetworkService/Request"), "the span is exported");
});

test("telemetry: PROMETHEUS serves /metrics on the configured address", async (t) => {
  const tel = await startTelemetry(
    { ...readTelemetryConfig({}), prometheus: true, prometheusListenOn: "127.0.0.1:0" },
    { component: "forwarder", name: "fwd-1" },
  );
  t.after(() => tel.close());
  assert.match(tel.promServer!.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const res = await fetch(tel.promServer!.url);
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.match(body, /^# TYPE nsm_request_duration_seconds histogram$/m);
  assert.match(body, /process_cpu_seconds_total\{component="forwarder",name="fwd-1"\}/);
  assert.equal((await fetch(tel.promServer!.url.replace("/metrics", "/x"))).status, 404);
});

test("telemetry: a taken Prometheus port fails startup, naming the address", async (t) => {
  const a = await startTelemetry(
    { ...readTelemetryConfig({}), prometheus: true, prometheusListenOn: "127.0.0.1:0" },
    { component: "nsc", name: "a" },
  );
  t.after(() => a.close());
  const taken = new URL(a.promServer!.url).host;
  await assert.rejects(
    startTelemetry(
      { ...readTelemetryConfig({}), prometheus: true, prometheusListenOn: taken },
      { component: "nsc", name: "b" },
    ),
    new RegExp(`cannot listen on ${taken}`),
  );
});

test("telemetry: listen addresses", () => {
  assert.deepEqual(parseListenOn(":8081"), { host: undefined, port: 8081 });
  assert.deepEqual(parseListenOn("127.0.0.1:0"), { host: "127.0.0.1", port: 0 });
  assert.deepEqual(parseListenOn("[::1]:9090"), { host: "::1", port: 9090 });
  assert.deepEqual(parseListenOn("tcp://0.0.0.0:1"), { host: "0.0.0.0", port: 1 });
  assert.throws(() => parseListenOn("8081"), /not \[host\]:port/);
});
