// The vL3 IPAM service: blocks from the pool in order, the wanted block when free, request
// exclusions honoured, DELETE and the end of a stream give blocks back; over gRPC on loopback.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, IpamType, PrefixRequestSchema } from "../../api/index.js";
import { ipamService, serveIpam } from "./server.js";
import { prefixServerUrl, subscribePrefix } from "./client.js";
import { PrefixPool } from "../utils/prefixpool.js";

const alloc = (prefix = "", excludePrefixes: string[] = []) =>
  create(PrefixRequestSchema, { type: IpamType.ALLOCATE, prefix, excludePrefixes });

test("blocks in order, wanted block, exclusions, release on DELETE and stream end", () => {
  const s = ipamService({ prefix: "172.16.0.0/16", clientPrefixLen: 24 });
  const a = new Set<string>(),
    b = new Set<string>();
  assert.equal(s.handle(alloc(), a)?.prefix, "172.16.0.0/24");
  assert.equal(s.handle(alloc(), b)?.prefix, "172.16.1.0/24");
  // the same stream asking its own prefix again keeps it
  assert.equal(s.handle(alloc("172.16.0.0/24"), a)?.prefix, "172.16.0.0/24");
  // excluded blocks are skipped, and the excludes come back in the answer
  const c = new Set<string>();
  const r = s.handle(alloc("", ["172.16.2.0/23"]), c)!;
  assert.equal(r.prefix, "172.16.4.0/24");
  assert.deepEqual(r.excludePrefixes, ["172.16.2.0/23"]);
  // a wanted free block is given; a taken one is not
  assert.equal(s.handle(alloc("172.16.9.0/24"), c)?.prefix, "172.16.9.0/24");
  assert.equal(s.handle(alloc("172.16.1.0/24"), c)?.prefix, "172.16.2.0/24");
  // DELETE of a block of this stream frees it; of another stream's block does nothing
  assert.equal(s.handle(create(PrefixRequestSchema, { type: IpamType.DELETE, prefix: "172.16.1.0/24" }), a), undefined);
  assert.ok(s.pool.allocated.includes("172.16.1.0/24"));
  s.handle(create(PrefixRequestSchema, { type: IpamType.DELETE, prefix: "172.16.0.0/24" }), a);
  assert.ok(!s.pool.allocated.includes("172.16.0.0/24"));
  // the end of a stream frees all it held
  s.end(c);
  assert.deepEqual(s.pool.allocated, ["172.16.1.0/24"]);
  assert.throws(() => s.handle(create(PrefixRequestSchema, { type: IpamType.UNDEFINED }), a), /undefined/);
});

test("a full pool says so; IPv6 blocks; bad lengths refused", () => {
  const s = ipamService({ prefix: "10.0.0.0/30", clientPrefixLen: 31 });
  const m = new Set<string>();
  assert.equal(s.handle(alloc(), m)?.prefix, "10.0.0.0/31");
  assert.equal(s.handle(alloc(), m)?.prefix, "10.0.0.2/31");
  assert.throws(() => s.handle(alloc(), m), /no free \/31 left in 10\.0\.0\.0\/30/);
  const v6 = ipamService({ prefix: "2001:db8::/64", clientPrefixLen: 112 });
  assert.equal(v6.handle(alloc(), new Set())?.prefix, "2001:db8::/112");
  assert.equal(v6.handle(alloc(), new Set())?.prefix, "2001:db8::1:0/112");
  assert.throws(() => ipamService({ prefix: "10.0.0.0/16", clientPrefixLen: 8 }), /does not fit/);
});

test("host pool: endpoint address excluded, lowest free host first", () => {
  const p = new PrefixPool("172.16.1.0/24", [{ v6: false, addr: 0xac100100n, len: 32 }]);
  assert.equal(p.allocate(32), "172.16.1.1/32");
  assert.equal(p.allocate(32), "172.16.1.2/32");
  p.release("172.16.1.1/32");
  assert.equal(p.allocate(32), "172.16.1.1/32");
  assert.ok(p.claim("172.16.1.7/32"));
  assert.ok(!p.claim("172.16.1.7/32"));
  assert.ok(!p.has("172.16.2.1/32"));
  assert.equal(prefixServerUrl("vl3-ipam:5006"), "tcp://vl3-ipam:5006");
});

test("over gRPC: two subscribers get two blocks; a closed stream's block goes back", async (t) => {
  const srv = await serveIpam({ listenOn: ["tcp://127.0.0.1:0"], prefix: "172.16.0.0/16", clientPrefixLen: 24 });
  t.after(() => srv.close());
  const url = srv.urls[0]!.href;
  const a = new AbortController(),
    b = new AbortController();
  t.after(() => (a.abort(), b.abort()));
  const got: string[] = [];
  const sa = subscribePrefix({ url, signal: a.signal, onPrefix: (p) => got.push(p) });
  assert.equal(await sa.first, "172.16.0.0/24");
  const sb = subscribePrefix({ url, signal: b.signal, onPrefix: () => {} });
  assert.equal(await sb.first, "172.16.1.0/24");
  a.abort();
  for (let i = 0; i < 200 && srv.service.pool.allocated.length > 1; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(srv.service.pool.allocated, ["172.16.1.0/24"]);
  assert.deepEqual(got, ["172.16.0.0/24"]);
});
