import { test } from "node:test";
import assert from "node:assert/strict";
import { create, PathSchema } from "../../../api/index.js";
import { chain, type ServerElement } from "../../../core/index.js";
import { injectError, newRequest, testCtx } from "../../../core/testing/index.js";
import { PromMetrics } from "../../../tools/telemetry/index.js";
import { healMetrics } from "./client.js";
import { prometheusServer } from "./server.js";

/** the hops after us: nsc → us (seg 1, id "ours-<id>") → forwarder (figures) */
function pathAfter(figures: Record<string, string>): ServerElement {
  return {
    async request(req) {
      const conn = req.connection!;
      conn.path = create(PathSchema, {
        index: 0,
        pathSegments: [
          { name: "nsc-a", id: conn.id },
          { name: "us", id: `ours-${conn.id}` },
          { name: "forwarder-0", id: "f", metrics: figures },
        ],
      });
      return conn;
    },
  };
}

const line = (text: string, re: RegExp) => text.split("\n").find((l) => re.test(l)) ?? "";
const value = (text: string, re: RegExp) => Number(line(text, re).split(" ").pop());

test("prometheus: first Request, refresh and Close are timed apart; the live gauge follows", async () => {
  const prom = new PromMetrics({ component: "nsmgr", name: "m", processMetrics: false });
  const server = chain(prometheusServer(prom), pathAfter({}));
  const ctx = testCtx();
  const conn = await server.request(newRequest("c1"), ctx);
  await server.request(newRequest("c1"), ctx);
  await server.request(newRequest("c1"), ctx);
  let text = await prom.text();
  assert.equal(value(text, /^nsm_request_duration_seconds_count\{.*kind="request"/), 1);
  assert.equal(value(text, /^nsm_request_duration_seconds_count\{.*kind="refresh"/), 2);
  assert.equal(value(text, /^nsm_connections\{/), 1);
  await server.close(conn, ctx);
  text = await prom.text();
  assert.equal(value(text, /^nsm_request_duration_seconds_count\{.*kind="close"/), 1);
  assert.equal(value(text, /^nsm_connections\{/), 0);
});

test("prometheus: failures are counted by kind and gRPC code", async () => {
  const prom = new PromMetrics({ component: "nsmgr", name: "m", processMetrics: false });
  const server = chain(prometheusServer(prom), injectError({ onRequest: [0, 1] }), pathAfter({}));
  const ctx = testCtx();
  await assert.rejects(server.request(newRequest("c1"), ctx));
  await assert.rejects(server.request(newRequest("c1"), ctx));
  assert.equal(value(await prom.text(), /^nsm_request_errors_total\{.*kind="request",code="13"/), 2);
});

test("prometheus: interface counters per connection, live from the datapath or from the path", async () => {
  const prom = new PromMetrics({ component: "forwarder", name: "f", prefix: "fwd", processMetrics: false });
  let live = 7;
  const onPath = { server_rx_bytes: "1000", server_interface: "KERNEL/nsm-1", client_interface: "VXLAN/vx-1" };
  const server = chain(
    prometheusServer(prom, {
      interfaceCounters: async (id) =>
        id === "ours-c2" ? { ...onPath, server_rx_packets: String(live), server_rx_bytes: "1" } : undefined,
    }),
    pathAfter(onPath),
  );
  const ctx = testCtx();
  await server.request(newRequest("c1"), ctx);
  await server.request(newRequest("c2"), ctx);
  let text = await prom.text();
  assert.match(
    line(text, /^fwd_server_rx_bytes_total\{.*connection_id="ours-c1"/),
    /network_service="test-ns",nsc="nsc-a",nsc_interface="KERNEL\/nsm-1",nse_interface="VXLAN\/vx-1".* 1000$/,
  );
  assert.equal(value(text, /^fwd_server_rx_packets_total\{.*connection_id="ours-c2"/), 7);
  live = 9;
  text = await prom.text();
  assert.equal(value(text, /^fwd_server_rx_packets_total\{.*connection_id="ours-c2"/), 9, "read again at scrape time");
});

test("prometheus: a heal is timed from its start until the connection is back", async () => {
  const prom = new PromMetrics({ component: "nsc", name: "n", processMetrics: false });
  const h = healMetrics(prom);
  h.onHeal("c1", "connection DOWN");
  h.onHeal("c1", "connection DOWN"); // a second attempt does not restart the clock
  h.onHealed("c1");
  const text = await prom.text();
  assert.equal(value(text, /^nsm_heal_duration_seconds_count/), 1);
  assert.equal(value(text, /^nsm_heals_total\{.*reason="connection DOWN"/), 2);
});

test("prometheus: a connection closed inside the chain (timeout) is dropped at the next scrape", async () => {
  const prom = new PromMetrics({ component: "forwarder", name: "f", processMetrics: false });
  const alive = new Set(["ours-c1", "ours-c2"]);
  const server = chain(
    prometheusServer(prom, { alive: (id) => alive.has(id) }),
    pathAfter({ server_rx_packets: "5", server_interface: "KERNEL/nsm-1" }),
  );
  const ctx = testCtx();
  await server.request(newRequest("c1"), ctx);
  await server.request(newRequest("c2"), ctx);
  let text = await prom.text();
  assert.equal(value(text, /^nsm_connections\{/), 2);
  alive.delete("ours-c1"); // the monitor no longer knows it: the timeout closed it
  text = await prom.text();
  assert.equal(value(text, /^nsm_connections\{/), 1);
  assert.equal(line(text, /^server_rx_packets_total\{.*connection_id="ours-c1"/), "");
  assert.equal(value(text, /^server_rx_packets_total\{.*connection_id="ours-c2"/), 5);
});
