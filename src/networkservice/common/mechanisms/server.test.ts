import { test } from "node:test";
import assert from "node:assert/strict";
import { kernel, memif, newMechanism, cls } from "../../../api/index.js";
import { chain } from "../../../core/index.js";
import { newRequest, testCtx } from "../../../core/testing/index.js";
import { kernelMechanismServer } from "./kernel/server.js";
import { mechanismsServer } from "./server.js";

test(
  "mechanisms: first supported preference wins; the kernel server names the interface and its netns",
  { timeout: 5000 },
  async () => {
    const s = chain(mechanismsServer({ KERNEL: kernelMechanismServer({ netnsUrl: "file:///run/netns/nse" }) }));
    const req = newRequest("c1", { networkService: "icmp-responder" });
    req.mechanismPreferences = [memif.newMemif("/x.sock"), kernel.newKernel({ netnsUrl: "file:///proc/1/ns/net" })];
    const conn = await s.request(req, testCtx());
    assert.equal(conn.mechanism?.type, "KERNEL");
    assert.equal(kernel.netnsUrlOf(conn), "file:///run/netns/nse");
    const name = kernel.ifnameOf(conn)!;
    assert.match(name, /^icmp-respo-/);
    assert.ok(Buffer.byteLength(name) <= 15);
  },
);

test("mechanisms: none supported / explicit unsupported are refused naming the types", { timeout: 5000 }, async () => {
  const s = chain(mechanismsServer({ KERNEL: {} }));
  const req = newRequest("c1");
  req.mechanismPreferences = [newMechanism(cls.LOCAL, "MEMIF"), newMechanism(cls.LOCAL, "VFIO")];
  await assert.rejects(
    s.request(req, testCtx()),
    /cannot support any of the requested mechanisms \[MEMIF, VFIO\] \(supported: KERNEL\)/,
  );
  const explicit = newRequest("c2");
  explicit.connection!.mechanism = newMechanism(cls.REMOTE, "WIREGUARD");
  await assert.rejects(s.request(explicit, testCtx()), /unsupported mechanism WIREGUARD/);
});
