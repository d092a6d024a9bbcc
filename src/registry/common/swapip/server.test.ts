import { test } from "node:test";
import assert from "node:assert/strict";
import { create, NetworkServiceEndpointResponseSchema, NetworkServiceEndpointSchema } from "../../../api/index.js";
import { newCtx, nseChain } from "../../../core/index.js";
import { staticIpMap } from "../../../tools/mapip.js";
import { nseQuery, NSE, readList } from "../../tools.js";
import { swapIpNseServer, swapUrl } from "./server.js";

const map = staticIpMap({ "10.0.1.254": "203.0.113.1", "fd00::1": "2001:db8::1" });

test("swapip (registry): URL hosts the map names become external; ports, paths and other hosts stay", () => {
  assert.equal(swapUrl("tcp://10.0.1.254:5004", map), "tcp://203.0.113.1:5004");
  assert.equal(swapUrl("tcp://[fd00::1]:5004", map), "tcp://[2001:db8::1]:5004");
  assert.equal(swapUrl("tcp://10.9.9.9:5004", map), "tcp://10.9.9.9:5004");
  assert.equal(swapUrl("unix:///x.sock", map), "unix:///x.sock");
  assert.equal(swapUrl("tcp://registry:5002", map), "tcp://registry:5002");
});

test("swapip (registry): Register, Find results and Unregister carry external addresses", async () => {
  const seen: string[] = [];
  const c = nseChain(swapIpNseServer(map), {
    register: async (e) => (seen.push(e.url), e),
    async *find() {
      yield create(NetworkServiceEndpointResponseSchema, {
        networkServiceEndpoint: { name: "x", url: "tcp://10.0.1.254:7" },
      });
    },
    unregister: async (e) => void seen.push(e.url),
  });
  const e = create(NetworkServiceEndpointSchema, { name: "n", url: "tcp://10.0.1.254:5004" });
  assert.equal((await c.register(e, newCtx())).url, "tcp://203.0.113.1:5004");
  assert.deepEqual(
    (await readList(c.find(nseQuery({}), newCtx()), NSE.itemOf)).map((x) => x.url),
    ["tcp://203.0.113.1:7"],
  );
  await c.unregister(create(NetworkServiceEndpointSchema, { name: "n", url: "tcp://10.0.1.254:5004" }), newCtx());
  assert.deepEqual(seen, ["tcp://203.0.113.1:5004", "tcp://203.0.113.1:5004"]);
});
