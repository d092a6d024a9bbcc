import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { create, PathSchema } from "../../../api/index.js";
import { chain, type ServerElement } from "../../../core/index.js";
import { newRequest, testCtx } from "../../../core/testing/index.js";
import { metricsServer } from "./server.js";

/** the rest of the path answers with a forwarder segment whose counters are `figures()` */
function forwarderSays(figures: () => Record<string, string>): ServerElement {
  return {
    async request(req) {
      const conn = req.connection!;
      conn.path = create(PathSchema, {
        index: 0,
        pathSegments: [
          { name: "nsc", id: conn.id },
          { name: "forwarder-0", id: "fwd-id", metrics: figures() },
        ],
      });
      return conn;
    },
  };
}

async function sums(exporter: InMemoryMetricExporter, reader: PeriodicExportingMetricReader) {
  await reader.forceFlush();
  const out: Record<string, number> = {};
  for (const rm of exporter.getMetrics())
    for (const sm of rm.scopeMetrics)
      for (const m of sm.metrics) out[m.descriptor.name] = m.dataPoints.reduce((a, p) => a + Number(p.value), 0);
  return out;
}

test("metrics: integer path segment metrics become <segment>_<metric> counters advanced by their growth", async () => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  let rx = 100;
  const server = chain(
    metricsServer(provider.getMeter("t")),
    forwarderSays(() => ({ server_rx_bytes: String(rx), server_interface: "KERNEL/nsm-1" })),
  );
  const ctx = testCtx();
  await server.request(newRequest("c1"), ctx);
  rx = 250;
  await server.request(newRequest("c1"), ctx); // refresh: +150
  await server.request(newRequest("c2"), ctx); // another connection: +250
  const s = await sums(exporter, reader);
  assert.equal(s["forwarder-0_server_rx_bytes"], 100 + 150 + 250);
  assert.ok(!Object.keys(s).some((k) => k.includes("interface")), "non-integer metrics are not counters");
  await provider.shutdown();
});

test("metrics: a counter that went down (datapath restarted) counts from zero again", async () => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  let rx = 500;
  const server = chain(
    metricsServer(provider.getMeter("t")),
    forwarderSays(() => ({ server_rx_packets: String(rx) })),
  );
  const ctx = testCtx();
  await server.request(newRequest("c1"), ctx);
  rx = 20;
  await server.request(newRequest("c1"), ctx);
  assert.equal((await sums(exporter, reader))["forwarder-0_server_rx_packets"], 520);
  await provider.shutdown();
});
