import { test } from "node:test";
import assert from "node:assert/strict";
import { create, NetworkServiceEndpointSchema, NetworkServiceSchema } from "../../../api/index.js";
import { newCtx, NsmError, nsChain, nseChain, registryConnectTo, status } from "../../../core/index.js";
import { createRegistry } from "../../chains/registry.js";
import { REGISTRY_URL } from "../../keys.js";
import { nseQuery, nsQuery, NSE, NS, readList } from "../../tools.js";
import { dnsResolveNseServer, dnsResolveNsServer, nseDomain, type DomainResolver } from "./server.js";

/** A resolver over a fixed table (the DNS itself is tested in src/tools/dns.test.ts). */
const table = (t: Record<string, string>): DomainResolver => ({
  resolve: async (service, domain) => {
    const u = t[`${service}.${domain}`];
    if (!u) throw new NsmError(status.NOT_FOUND, `domain ${domain}: ${service}.${domain} does not exist (NXDOMAIN)`);
    return u;
  },
});
const dns = table({
  "registry.nsm-system.b.test": "tcp://10.0.2.254:5002",
  "nsmgr-proxy.nsm-system.b.test": "tcp://10.0.2.254:5004",
  "registry.nsm-system.self.test": "tcp://10.0.1.254:5005",
});

test("dnsresolve: domain of an NSE is that of its first interdomain name", () => {
  assert.equal(nseDomain({ name: "a", networkServiceNames: ["x", "y@b.test", "z@c.test"] }), "b.test");
  assert.equal(nseDomain({ name: "a@c.test", networkServiceNames: ["y@b.test"] }), "c.test");
  assert.equal(nseDomain({ name: "a", networkServiceNames: ["x"] }), "");
});

test("dnsresolve: names go to the domain's registry stripped and come back with @domain and the nsmgr-proxy URL", async (t) => {
  const ac = new AbortController();
  t.after(() => ac.abort());
  const remote = await createRegistry({ signal: ac.signal });
  t.after(() => remote.close());
  const urls: string[] = [];
  const nse = nseChain(
    dnsResolveNseServer(dns),
    {
      register: (e, c, n) => (urls.push(c.get(REGISTRY_URL)!), n.register(e, c)),
      find: (q, c, n) => (urls.push(c.get(REGISTRY_URL)!), n.find(q, c)),
    },
    registryConnectTo(remote.nse),
  );
  const ns = nsChain(dnsResolveNsServer(dns), registryConnectTo(remote.ns));

  const stored = await ns.register(create(NetworkServiceSchema, { name: "svc@b.test", payload: "ETHERNET" }), newCtx());
  assert.equal(stored.name, "svc@b.test");
  assert.deepEqual(
    (await readList(remote.ns.find(nsQuery({}), newCtx()), NS.itemOf)).map((s) => s.name),
    ["svc"],
  );

  const reg = await nse.register(
    create(NetworkServiceEndpointSchema, {
      name: "nse-1",
      url: "tcp://10.0.2.1:5001",
      networkServiceNames: ["svc@b.test"],
      networkServiceLabels: { "svc@b.test": { labels: { app: "x" } } },
    }),
    newCtx(),
  );
  assert.equal(reg.name, "nse-1@b.test");
  assert.deepEqual(reg.networkServiceNames, ["svc@b.test"]);
  const there = await readList(remote.nse.find(nseQuery({}), newCtx()), NSE.itemOf);
  assert.deepEqual(
    there.map((e) => [e.name, e.networkServiceNames, Object.keys(e.networkServiceLabels)]),
    [["nse-1", ["svc"], ["svc"]]],
  );

  const found = await readList(nse.find(nseQuery({ networkServiceNames: ["svc@b.test"] }), newCtx()), NSE.itemOf);
  assert.deepEqual(
    found.map((e) => [e.name, e.url]),
    [["nse-1@b.test", "tcp://10.0.2.254:5004"]],
  );
  assert.deepEqual(urls, ["tcp://10.0.2.254:5002", "tcp://10.0.2.254:5002"]);
  const nsFound = await readList(ns.find(nsQuery({ name: "svc@b.test" }), newCtx()), NS.itemOf);
  assert.deepEqual(
    nsFound.map((s) => s.name),
    ["svc@b.test"],
  );

  await nse.unregister(reg, newCtx());
  assert.equal((await readList(remote.nse.find(nseQuery({}), newCtx()), NSE.itemOf)).length, 0);
});

test("dnsresolve: unknown domain, empty domain and a domain resolving to itself fail before anything is sent", async () => {
  let sent = 0;
  const count = {
    register: async () => (sent++, create(NetworkServiceEndpointSchema)),
    find() {
      sent++;
      return [][Symbol.iterator]() as never;
    },
  };
  const nse = nseChain(dnsResolveNseServer(dns, { selfUrls: ["tcp://10.0.1.254:5005"] }), count);
  const e = (name: string, svc: string) =>
    create(NetworkServiceEndpointSchema, { name, url: "tcp://1.2.3.4:5", networkServiceNames: [svc] });
  await assert.rejects(
    nse.register(e("a", "s@nowhere.test"), newCtx()),
    /domain nowhere\.test: registry\.nsm-system\.nowhere\.test does not exist/,
  );
  await assert.rejects(readList(nse.find(nseQuery({ name: "plain" }), newCtx()), NSE.itemOf), /domain cannot be empty/);
  await assert.rejects(nse.register(e("a", "s@self.test"), newCtx()), (err: NsmError) => {
    assert.equal(err.code, status.FAILED_PRECONDITION);
    assert.match(err.message, /domain self\.test resolves to this registry-proxy-dns itself/);
    return true;
  });
  assert.equal(sent, 0);
});

test("dnsresolve: with a local registry, names without @domain go there unchanged", async () => {
  const urls: (string | undefined)[] = [];
  const nse = nseChain(dnsResolveNseServer(dns, { localRegistryUrl: "tcp://10.0.1.254:5002" }), {
    register: async (e, c) => (urls.push(c.get(REGISTRY_URL)), e),
  });
  const e = create(NetworkServiceEndpointSchema, { name: "a", url: "tcp://1.2.3.4:5", networkServiceNames: ["s"] });
  const back = await nse.register(e, newCtx());
  assert.equal(back.name, "a");
  assert.deepEqual(back.networkServiceNames, ["s"]);
  assert.deepEqual(urls, ["tcp://10.0.1.254:5002"]);
});
