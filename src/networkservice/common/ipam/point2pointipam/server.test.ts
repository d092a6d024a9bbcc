import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionContextSchema, create } from "../../../../api/index.js";
import { chain } from "../../../../core/index.js";
import { injectError, newRequest, testCtx } from "../../../../core/testing/index.js";
import { point2PointIpamServer } from "./server.js";

test(
  "p2p ipam: lowest free address to the NSE, next to the NSC, excluded skipped, routes crossed, stable on refresh",
  { timeout: 5000 },
  async () => {
    const ipam = point2PointIpamServer(["10.0.0.0/24"]);
    const s = chain(ipam);
    const ctx = testCtx();
    const req = newRequest("c1");
    req.connection!.context = create(ConnectionContextSchema, { ipContext: { excludedPrefixes: ["10.0.0.1/32"] } });
    const conn = await s.request(req, ctx);
    const ip = conn.context!.ipContext!;
    assert.deepEqual(ip.dstIpAddrs, ["10.0.0.0/32"]);
    assert.deepEqual(ip.srcIpAddrs, ["10.0.0.2/32"]);
    assert.deepEqual(
      ip.srcRoutes.map((r) => r.prefix),
      ["10.0.0.0/32"],
    );
    assert.deepEqual(
      ip.dstRoutes.map((r) => r.prefix),
      ["10.0.0.2/32"],
    );
    const again = await s.request({ ...req, connection: conn } as never, ctx);
    assert.deepEqual(again.context!.ipContext!.srcIpAddrs, ["10.0.0.2/32"], "refresh keeps the pair");
    assert.equal(ipam.allocated, 2);
    const other = await s.request(newRequest("c2"), testCtx());
    assert.deepEqual(other.context!.ipContext!.dstIpAddrs, ["10.0.0.1/32"]);
    await s.close(conn, ctx);
    assert.equal(ipam.allocated, 2, "c1's pair is free again");
  },
);

test(
  "p2p ipam: a failed first request frees its pair; IPv6 pools work; exhaustion names the pool",
  { timeout: 5000 },
  async () => {
    const ipam = point2PointIpamServer(["fd00::/127"]);
    await assert.rejects(chain(ipam, injectError({ onRequest: [0] })).request(newRequest("c1"), testCtx()), /injected/);
    assert.equal(ipam.allocated, 0);
    const conn = await chain(ipam).request(newRequest("c2"), testCtx());
    assert.deepEqual(conn.context!.ipContext!.dstIpAddrs, ["fd00::/128"]);
    assert.deepEqual(conn.context!.ipContext!.srcIpAddrs, ["fd00::1/128"]);
    await assert.rejects(chain(ipam).request(newRequest("c3"), testCtx()), /no free address pair left in fd00::\/127/);
    assert.throws(() => point2PointIpamServer([]), /required one or more prefixes/);
  },
);

test(
  "p2p ipam: a connection coming back after its pair went to another gets a new pair, never a shared address",
  { timeout: 5000 },
  async () => {
    const ipam = point2PointIpamServer(["10.0.0.0/29"]);
    const s = chain(ipam);
    const ctx1 = testCtx();
    const c1 = await s.request(newRequest("c1"), ctx1);
    const old = structuredClone(c1.context!.ipContext!);
    assert.deepEqual([old.dstIpAddrs, old.srcIpAddrs], [["10.0.0.0/32"], ["10.0.0.1/32"]]);
    // a Close c1 never saw (another client closed its id): the pair is free and goes to c2
    await s.close(c1, ctx1);
    const c2 = await s.request(newRequest("c2"), testCtx());
    assert.deepEqual(c2.context!.ipContext!.srcIpAddrs, ["10.0.0.1/32"]);
    // c1 refreshes with its old context (its metadata went with the Close)
    const back = newRequest("c1");
    back.connection!.context = create(ConnectionContextSchema, { ipContext: structuredClone(old) });
    const again = (await s.request(back, testCtx())).context!.ipContext!;
    assert.deepEqual([again.dstIpAddrs, again.srcIpAddrs], [["10.0.0.2/32"], ["10.0.0.3/32"]], "only the new pair");
    assert.deepEqual(
      [again.srcRoutes.map((r) => r.prefix), again.dstRoutes.map((r) => r.prefix)],
      [["10.0.0.2/32"], ["10.0.0.3/32"]],
      "no route to the old addresses either",
    );
    const held = [...c2.context!.ipContext!.srcIpAddrs, ...c2.context!.ipContext!.dstIpAddrs];
    for (const a of [...again.srcIpAddrs, ...again.dstIpAddrs]) assert.ok(!held.includes(a), `${a} held twice`);
    assert.equal(ipam.allocated, 4);
  },
);
