import { test } from "node:test";
import assert from "node:assert/strict";
import { create, IPContextSchema } from "../../../api/index.js";
import { plumbingOf } from "./ipcontext.js";

// the example upstream's kernel datapath checks use: src 172.16.1.2/32, dst 172.16.1.1/32, dst_routes 10.0.0.0/8, src_routes 192.168.0.0/16
const ip = create(IPContextSchema, {
  srcIpAddrs: ["172.16.1.2/32"],
  dstIpAddrs: ["172.16.1.1/32"],
  srcRoutes: [{ prefix: "192.168.0.0/16" }],
  dstRoutes: [{ prefix: "10.0.0.0/8" }],
});

test(
  "ipcontext: NSC side gets src addresses, a link route to dst, src_routes via the first dst IP",
  { timeout: 5000 },
  () => {
    const p = plumbingOf(ip, "src", "nsm-1");
    assert.deepEqual(p.addrs, [{ link: "nsm-1", cidr: "172.16.1.2/32" }]);
    assert.deepEqual(p.routes, [
      { dst: "172.16.1.1/32", dev: "nsm-1", scope: "link" },
      { dst: "192.168.0.0/16", via: "172.16.1.1", dev: "nsm-1", onlink: true },
    ]);
  },
);

test("ipcontext: NSE side is symmetric; p2p routes inside the far net stay link routes", { timeout: 5000 }, () => {
  const p = plumbingOf(ip, "dst", "icmp-respo-1");
  assert.deepEqual(p.addrs, [{ link: "icmp-respo-1", cidr: "172.16.1.1/32" }]);
  assert.deepEqual(
    p.routes.map((r) => [r.dst, r.via]),
    [
      ["172.16.1.2/32", undefined],
      ["10.0.0.0/8", "172.16.1.2"],
    ],
  );
  const p2p = create(IPContextSchema, {
    srcIpAddrs: ["10.0.0.1/32"],
    dstIpAddrs: ["10.0.0.0/32"],
    srcRoutes: [{ prefix: "10.0.0.0/32" }],
  });
  assert.deepEqual(plumbingOf(p2p, "src", "x").routes, [{ dst: "10.0.0.0/32", dev: "x", scope: "link" }]);
  assert.deepEqual(plumbingOf(undefined, "src", "x"), { addrs: [], routes: [] });
});
