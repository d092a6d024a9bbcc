import { test } from "node:test";
import assert from "node:assert/strict";
import { create, ConnectionSchema, kernel, type Connection } from "../../../api/index.js";
import type { IcmpEchoOptions } from "../../../native.js";
import { kernelLivenessCheck } from "./liveness.js";

function conn(src: string[], dst: string[], mech = kernel.newKernel({ name: "nsm-1" })): Connection {
  return create(ConnectionSchema, {
    id: "c",
    mechanism: mech,
    context: { ipContext: { srcIpAddrs: src, dstIpAddrs: dst } },
  });
}

test("liveness: pings every src→dst pair of one family from the netns over the connection's interface", async () => {
  const calls: { netns: string; o: IcmpEchoOptions }[] = [];
  const check = kernelLivenessCheck({
    netnsUrl: "file:///run/netns/nsc%2D1",
    echo: async (netns, o) => (calls.push({ netns, o }), { sent: 1, received: 1 }),
  });
  const c = conn(["10.0.0.1/32", "fd00::1/128"], ["10.0.0.2/32", "fd00::2/128"]);
  assert.equal(await check(c, new AbortController().signal, 700), true);
  assert.deepEqual(
    calls.map((x) => [x.netns, x.o.src, x.o.dst, x.o.ifname, x.o.timeoutMs]),
    [
      ["/run/netns/nsc-1", "10.0.0.1", "10.0.0.2", "nsm-1", 700],
      ["/run/netns/nsc-1", "fd00::1", "fd00::2", "nsm-1", 700],
    ],
  );
});

test("liveness: dead when any pair has no answer or cannot be pinged; alive when there is nothing to check", async () => {
  const c = conn(["10.0.0.1/32"], ["10.0.0.2/32", "10.0.0.3/32"]);
  const one = kernelLivenessCheck({ echo: async (_n, o) => ({ sent: 4, received: o.dst === "10.0.0.3" ? 0 : 1 }) });
  assert.equal(await one(c, new AbortController().signal, 100), false);
  const broken = kernelLivenessCheck({
    echo: async () => {
      throw new Error("ENODEV");
    },
  });
  assert.equal(await broken(c, new AbortController().signal, 100), false);
  assert.equal(await broken(conn([], ["10.0.0.2/32"]), new AbortController().signal, 100), true, "no addresses");
  const memif = conn(["10.0.0.1/32"], ["10.0.0.2/32"]);
  memif.mechanism!.type = "MEMIF";
  assert.equal(await broken(memif, new AbortController().signal, 100), true, "not KERNEL");
});
