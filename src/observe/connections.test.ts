import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionSchema, ConnectionState, create, type Connection } from "../api/index.js";
import { CounterMemory, mergeConnections, type Views } from "./connections.js";

const rx = (n: number) => ({
  server_interface: "nsm-1",
  server_rx_packets: String(n),
  server_rx_bytes: String(n * 84),
});

/** the connection "c" with segments nsc, nsmgr-0, forwarder-0, nsmgr-1, forwarder-1, nse as one monitor reports it */
function conn(index: number, metrics: Record<string, Record<string, string>>): Connection {
  const names = ["nsc", "nsmgr-0", "forwarder-0", "nsmgr-1", "forwarder-1", "nse"];
  return create(ConnectionSchema, {
    id: `c-${index}`,
    networkService: "icmp",
    state: ConnectionState.UP,
    path: {
      index,
      pathSegments: names.map((name, i) => ({ name, id: i ? `c-${i}` : "c", metrics: metrics[name] ?? {} })),
    },
  });
}
const views = (...vs: [string, Connection][]): Views => new Map(vs.map(([n, c]) => [n, new Map([[c.id, c]])]));

test("counters: every monitor's copy of the path counts; one copy mid-refresh does not hide a forwarder's", () => {
  // nsmgr-0's copy was taken while forwarder-0 refreshed: its segment has no counters yet
  const v = views(
    ["nsmgr-0", conn(1, { "forwarder-1": rx(7) })],
    ["nsmgr-1", conn(3, { "forwarder-0": rx(5), "forwarder-1": rx(6) })],
  );
  const [c] = mergeConnections(v);
  assert.deepEqual(Object.keys(c!.counters).sort(), ["forwarder-0", "forwarder-1"]);
  assert.equal(c!.counters["forwarder-0"]!.server_rx_packets, "5");
  assert.equal(c!.counters["forwarder-1"]!.server_rx_packets, "7", "the chosen copy's own counters first");
});

test("counters: the last known ones are kept across monitor events until the connection goes", () => {
  const mem = new CounterMemory();
  let [c] = mergeConnections(views(["nsmgr-0", conn(1, { "forwarder-0": rx(5), "forwarder-1": rx(6) })]), mem);
  assert.equal(c!.counters["forwarder-0"]!.server_rx_packets, "5");
  // an event during a refresh: forwarder-0's segment rewritten without counters in every copy
  [c] = mergeConnections(views(["nsmgr-0", conn(1, { "forwarder-1": rx(8) })], ["nsmgr-1", conn(3, {})]), mem);
  assert.equal(c!.counters["forwarder-0"]!.server_rx_packets, "5", "last known counters kept");
  assert.equal(c!.counters["forwarder-1"]!.server_rx_packets, "8", "newer counters win");
  // refreshed: the new values replace the remembered ones
  [c] = mergeConnections(views(["nsmgr-0", conn(1, { "forwarder-0": rx(9) })]), mem);
  assert.equal(c!.counters["forwarder-0"]!.server_rx_packets, "9");
  assert.equal(c!.counters["forwarder-1"]!.server_rx_packets, "8");
  // the connection is gone: so is what was remembered for it
  assert.deepEqual(mergeConnections(new Map(), mem), []);
  [c] = mergeConnections(views(["nsmgr-0", conn(1, {})]), mem);
  assert.deepEqual(c!.counters, {}, "a connection of the same id later starts afresh");
});
