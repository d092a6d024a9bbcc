import { test } from "node:test";
import assert from "node:assert/strict";
import { SpanKind } from "@opentelemetry/api";
import { AggregationTemporality, InMemoryMetricExporter } from "@opentelemetry/sdk-metrics";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace";
import { sandbox } from "../../sandbox/index.js";
import { PromMetrics, startOtel, type Telemetry } from "../../tools/telemetry/index.js";

/** per component: OpenTelemetry into shared in-memory exporters, and its own Prometheus registry */
function telemetryFactory() {
  const spans = new InMemorySpanExporter();
  const made = new Map<string, Telemetry>();
  const make = (component: string, name: string): Telemetry => {
    const otel = startOtel({
      serviceName: name,
      component,
      endpoint: "127.0.0.1:1", // never used: in-memory exporters
      exportIntervalMs: 3_600_000,
      spanExporter: spans,
      metricExporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    });
    const t: Telemetry = {
      otel,
      prom: new PromMetrics({ component, name, processMetrics: false }),
      close: () => otel.shutdown(),
    };
    made.set(name, t);
    return t;
  };
  return {
    spans,
    made,
    make,
    flush: () => Promise.all([...made.values()].map((t) => t.otel!.flush())),
    close: () => Promise.all([...made.values()].map((t) => t.close())),
  };
}

const value = (text: string, re: RegExp) =>
  Number(
    text
      .split("\n")
      .find((l) => re.test(l))
      ?.split(" ")
      .pop(),
  );

test("telemetry in a sandbox: one trace from the NSC through nsmgr and forwarder to the NSE; per-component Prometheus", async (t) => {
  const tf = telemetryFactory();
  const sb = await sandbox({ nodes: 1, telemetry: tf.make });
  t.after(async () => {
    await sb.close();
    await tf.close();
  });
  await sb.node(0).endpoint({ name: "nse-1", services: ["icmp"] });
  const nsc = await sb.node(0).client({ name: "nsc-1" });
  await nsc.request("kernel://icmp/nsm-1", { id: "nsc-1-0" });
  await tf.flush();
  const requests = tf.spans.getFinishedSpans().filter((s) => s.name === "NetworkService/Request");
  const client = requests.find((s) => s.kind === SpanKind.CLIENT);
  assert.ok(client, "the NSC's span");
  const inTrace = requests.filter((s) => s.spanContext().traceId === client.spanContext().traceId);
  assert.deepEqual(
    inTrace.map((s) => s.resource.attributes["service.name"]).sort(),
    ["forwarder-0-0", "nsc-1", "nse-1", "nsmgr-0"],
    "every hop's Request span is in the client's trace",
  );
  const mgr = await tf.made.get("nsmgr-0")!.prom!.text();
  assert.equal(value(mgr, /^nsm_request_duration_seconds_count\{.*kind="request"/), 1);
  assert.equal(value(mgr, /^nsm_connections\{/), 1);
  const client1 = await tf.made.get("nsc-1")!.prom!.text();
  assert.equal(value(client1, /^nsm_request_duration_seconds_count\{.*kind="request"/), 1);
});

test("telemetry in a sandbox: the NSC times a heal after its NSE is killed", async (t) => {
  const tf = telemetryFactory();
  const sb = await sandbox({ nodes: 1, telemetry: tf.make });
  t.after(async () => {
    await sb.close();
    await tf.close();
  });
  const nses = [
    await sb.node(0).endpoint({ name: "nse-a", services: ["icmp"] }),
    await sb.node(0).endpoint({ name: "nse-b", services: ["icmp"] }),
  ];
  let healed!: () => void;
  const done = new Promise<void>((r) => (healed = r));
  const nsc = await sb.node(0).client({ name: "nsc-h", heal: { onHealed: () => healed() } });
  const conn = await nsc.request("kernel://icmp/nsm-1", { id: "nsc-h-0" });
  await nses.find((n) => n.registration.name === conn.networkServiceEndpointName)!.kill();
  await done;
  const text = await tf.made.get("nsc-h")!.prom!.text();
  assert.equal(value(text, /^nsm_heal_duration_seconds_count/), 1);
  assert.ok(value(text, /^nsm_heals_total\{/) >= 1, text);
});
