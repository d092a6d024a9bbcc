import { test } from "node:test";
import assert from "node:assert/strict";
import { commonKeys, create, MechanismSchema } from "../../../api/index.js";
import { chain, newCtx } from "../../../core/index.js";
import { newRequest } from "../../../core/testing/index.js";
import { staticIpMap } from "../../../tools/mapip.js";
import { swapIpClient, swapIpServer } from "./server.js";

const { SRC_IP, DST_IP, ORIG_SRC_IP, ORIG_DST_IP } = commonKeys;

test("swapip: source side sends the external src_ip and restores it; destination side answers the external dst_ip", async () => {
  const mapA = staticIpMap({ "10.0.1.1": "203.0.113.1" });
  const mapB = staticIpMap({ "10.0.2.1": "203.0.113.2" });
  const atDst: Record<string, string>[] = [];
  // proxy A (server + its client) → proxy B (server) → the destination's forwarder (sets dst_ip)
  const s = chain(swapIpServer(mapA), swapIpClient(mapA), swapIpServer(mapB), swapIpClient(mapB), {
    async request(req) {
      const m = req.mechanismPreferences[0]!;
      atDst.push({ ...m.parameters });
      const conn = req.connection!;
      conn.mechanism = create(MechanismSchema, { ...m, parameters: { ...m.parameters, [DST_IP]: "10.0.2.1" } });
      return conn;
    },
  });
  const req = newRequest("c1", { networkService: "svc" });
  req.mechanismPreferences = [
    create(MechanismSchema, {
      cls: "REMOTE",
      type: "VXLAN",
      parameters: { [SRC_IP]: "10.0.1.1", [DST_IP]: "1.1.1.1" },
    }),
  ];
  const conn = await s.request(req, newCtx());
  assert.deepEqual(
    atDst,
    [{ [SRC_IP]: "203.0.113.1", [ORIG_SRC_IP]: "10.0.1.1" }],
    "dst_ip from the source side is cleared",
  );
  const p = conn.mechanism!.parameters;
  assert.equal(p[SRC_IP], "10.0.1.1", "the source gets its own address back");
  assert.equal(p[ORIG_SRC_IP], undefined);
  assert.equal(p[DST_IP], "203.0.113.2", "and the destination's external address");
  assert.equal(p[ORIG_DST_IP], "10.0.2.1");
});
