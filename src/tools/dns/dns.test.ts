// The DNS pieces on loopback: records (A, AAAA, PTR, known name without that type), fan-out to
// several servers (first NOERROR wins), search domains, the loop guard, the cache, UDP and TCP,
// and the resolv.conf rewrite (idempotent).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  cache,
  dnsChain,
  dnsConfigs,
  DnsRecords,
  fanout,
  noLoop,
  noRecursion,
  reverseName,
  searches,
} from "./handlers.js";
import { listenAndServe, query, RCODE, rcodeOf, type Packet } from "./wire.js";
import { originalOf, takeOverResolvConf } from "./resolvconf.js";

let id = 1;
const q = (name: string, type: "A" | "AAAA" | "PTR" = "A"): Packet => ({
  type: "query",
  id: id++,
  flags: 256,
  questions: [{ type, name }],
});
const data = (p: Packet) => (p.answers ?? []).map((a) => (a as { data: string }).data);

test("records server on UDP and TCP, fan-out proxy with search domains and cache", async (t) => {
  const recA = new DnsRecords();
  recA.set("nsc-1.vl3.", ["172.16.0.1"]);
  recA.set("both.vl3", ["172.16.0.2", "fd00::2"]);
  const recB = new DnsRecords();
  recB.set("nsc-3.vl3.", ["172.16.1.1"]);
  const a = await listenAndServe("127.0.0.1:0", dnsChain(noLoop(), noRecursion(), recA.handler()));
  const b = await listenAndServe("127.0.0.1:0", dnsChain(recB.handler()));
  t.after(() => Promise.all([a.close(), b.close()]));

  for (const proto of ["udp", "tcp"]) {
    const r = await query(`${proto}://127.0.0.1:${a.port}`, q("nsc-1.vl3."));
    assert.equal(rcodeOf(r), RCODE.NOERROR);
    assert.deepEqual(data(r), ["172.16.0.1"], proto);
  }
  assert.deepEqual(data(await query(`udp://127.0.0.1:${a.port}`, q("both.vl3.", "AAAA"))), ["fd00::2"]);
  const ptr = await query(`udp://127.0.0.1:${a.port}`, q(reverseName("172.16.0.1"), "PTR"));
  assert.deepEqual(data(ptr), ["nsc-1.vl3"]);
  // a name known but without that type: empty NOERROR; unknown: SERVFAIL (nothing next)
  const empty = await query(`udp://127.0.0.1:${a.port}`, q("nsc-1.vl3.", "AAAA"));
  assert.equal(rcodeOf(empty), RCODE.NOERROR);
  assert.equal(empty.answers?.length, 0);
  assert.equal(rcodeOf(await query(`udp://127.0.0.1:${a.port}`, q("nope.vl3."))), RCODE.SERVFAIL);

  // the proxy: both servers (as DNS configs with ports), search domain vl3
  const configs = [
    { dnsServerIps: [`127.0.0.1:${a.port}`], searchDomains: ["vl3"] },
    { dnsServerIps: [`127.0.0.1:${b.port}`], searchDomains: [] },
  ];
  let asked = 0;
  const counter = async (
    m: Packet,
    qq: Parameters<ReturnType<typeof fanout>>[1],
    next: Parameters<ReturnType<typeof fanout>>[2],
  ) => {
    asked++;
    return next(m, qq);
  };
  const proxy = await listenAndServe(
    "127.0.0.1:0",
    dnsChain(
      dnsConfigs(() => configs),
      searches(),
      noLoop(),
      cache(),
      counter,
      fanout({ timeoutMs: 500 }),
    ),
  );
  t.after(() => proxy.close());
  const p = `udp://127.0.0.1:${proxy.port}`;
  assert.deepEqual(data(await query(p, q("nsc-3.vl3."))), ["172.16.1.1"]);
  const short = await query(p, q("nsc-1"));
  assert.deepEqual(data(short), ["172.16.0.1"]);
  assert.equal(short.questions?.[0]?.name, "nsc-1", "the question comes back as asked");
  const before = asked;
  assert.deepEqual(data(await query(`tcp://127.0.0.1:${proxy.port}`, q("nsc-3.vl3."))), ["172.16.1.1"]);
  assert.equal(asked, before, "answered from the cache");
  assert.equal(rcodeOf(await query(p, q("nope."), 5000)), RCODE.SERVFAIL);
});

test("the loop guard answers SERVFAIL for a message id already in flight", async () => {
  let inner: ((m: Packet) => Promise<Packet | undefined>) | undefined;
  const serve = dnsChain(noLoop(), async (m) => inner!(m));
  inner = (m) => serve(m); // the same query comes back around
  const r = await serve(q("loop."));
  assert.equal(rcodeOf(r!), RCODE.SERVFAIL);
});

test("resolv.conf: originals commented, proxy as nameserver, no search; twice = once; restore", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "nsm-resolv-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, "resolv.conf");
  const orig = "nameserver 10.96.0.10\nsearch a.svc cluster.local\noptions ndots:5\n";
  writeFileSync(f, orig);
  const one = takeOverResolvConf(f, "127.0.0.1");
  const want =
    "#nameserver 10.96.0.10\n#search a.svc cluster.local\n#options ndots:5\n\nnameserver 127.0.0.1\noptions ndots:5\n";
  assert.equal(readFileSync(f, "utf8"), want);
  assert.deepEqual(one.original.nameservers, ["10.96.0.10"]);
  assert.deepEqual(one.original.search, ["a.svc", "cluster.local"]);
  const two = takeOverResolvConf(f, "127.0.0.1");
  assert.equal(readFileSync(f, "utf8"), want);
  assert.deepEqual(two.original.nameservers, ["10.96.0.10"]);
  assert.equal(originalOf(readFileSync(f, "utf8")), orig);
  two.restore();
  assert.equal(readFileSync(f, "utf8"), orig);
});
