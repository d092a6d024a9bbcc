// vL3 DNS: a client with podName=alpine-1 on service vl3 is named alpine-1.vl3. (A and PTR), the
// request gets our DNS config with search domain vl3, Close removes the names; a peer's DNS
// server inside the global net becomes a fan-out target; the client side keeps the peer's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, ConnectionContextSchema, DNSConfigSchema, IPContextSchema } from "../../../api/index.js";
import { chain, type ServerElement } from "../../../core/index.js";
import { newRequest, testCtx } from "../../../core/testing/index.js";
import { dnsChain, DnsRecords } from "../../../tools/dns/handlers.js";
import { Vl3DnsState } from "../../utils/vl3dns.js";
import { renderTemplate } from "../../utils/dnstemplate.js";
import { vl3DnsServer, searchDomainsOf } from "./server.js";
import { vl3DnsClient } from "./client.js";

const TPL = '{{ index .Labels "podName" }}.{{ .NetworkService }}.';

test("names, DNS config, peers, removal on Close", async () => {
  let ip: string | undefined;
  const state = new Vl3DnsState(
    () => ip,
    () => "172.16.1.0/16",
  );
  const records = new DnsRecords();
  // the vl3 address element that follows it
  const addr: ServerElement = {
    async request(req) {
      req.connection!.context!.ipContext = create(IPContextSchema, { srcIpAddrs: ["172.16.1.1/32"] });
      return req.connection!;
    },
  };
  const s = chain(vl3DnsServer({ state, records, templates: [TPL] }), addr);
  const req = newRequest("c1", { networkService: "vl3" });
  req.connection!.labels = { podName: "alpine-1" };
  await assert.rejects(s.request(req, testCtx()), /DNS address is initializing/);
  ip = "172.16.1.0";
  const ctx = testCtx();
  // a peer's config rides along: kept as a fan-out target
  req.connection!.context = create(ConnectionContextSchema, {
    dnsContext: { configs: [{ dnsServerIps: ["172.16.0.0"] }, { dnsServerIps: ["10.96.0.10"] }] },
  });
  const c = await s.request(req, ctx);
  const mine = c.context!.dnsContext!.configs.find((x) => x.dnsServerIps.includes("172.16.1.0"));
  assert.deepEqual(mine?.searchDomains, ["vl3"]);
  assert.deepEqual(state.peerConfigs(), [{ dnsServerIps: ["172.16.0.0"], searchDomains: [] }]);
  const ask = dnsChain(records.handler());
  const a = await ask({ type: "query", id: 1, questions: [{ type: "A", name: "alpine-1.vl3" }] });
  assert.deepEqual(
    a!.answers!.map((x) => (x as { data: string }).data),
    ["172.16.1.1"],
  );
  const ptr = await ask({ type: "query", id: 2, questions: [{ type: "PTR", name: "1.1.16.172.in-addr.arpa" }] });
  assert.deepEqual(
    ptr!.answers!.map((x) => (x as { data: string }).data),
    ["alpine-1.vl3."],
  );
  await s.close(c, ctx);
  assert.equal(records.size, 0);
  assert.equal(await ask({ type: "query", id: 3, questions: [{ type: "A", name: "alpine-1.vl3" }] }), undefined);
  assert.deepEqual(state.peerConfigs(), []);
});

test("templates, search domains, client side", async () => {
  const c = newRequest("x", { networkService: "floating-vl3-dns@my.cluster3" }).connection!;
  c.labels = { podName: "alpine-1" };
  assert.equal(renderTemplate(TPL, c), "alpine-1.floating-vl3-dns@my.cluster3.");
  assert.equal(
    renderTemplate('{{ index .Labels "podName" }}.{{ target .NetworkService }}.{{ domain .NetworkService }}.', c),
    "alpine-1.floating-vl3-dns.my.cluster3.",
  );
  assert.equal(
    renderTemplate('{{ index .Labels "none" }}..{{ .NetworkService }}.', c),
    ".floating-vl3-dns@my.cluster3.",
  );
  assert.deepEqual(searchDomainsOf("a.b.c."), ["b.c", "c"]);

  const state = new Vl3DnsState(
    () => "172.16.2.0",
    () => "172.16.2.0/16",
  );
  const cl = chain(vl3DnsClient(state), {
    async request(req) {
      req.connection!.context!.dnsContext!.configs.push(create(DNSConfigSchema, { dnsServerIps: ["172.16.0.0"] }));
      return req.connection!;
    },
  });
  const out = await cl.request(newRequest("to-peer"), testCtx());
  assert.deepEqual(out.context!.dnsContext!.configs[0]!.dnsServerIps, ["172.16.2.0"], "ours goes to the peer");
  assert.deepEqual(state.peerConfigs(), [{ dnsServerIps: ["172.16.0.0"], searchDomains: [] }]);
});
