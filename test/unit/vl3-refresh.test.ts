// A vL3 endpoint pushes changes to connections already made (in-process mesh: sandbox with the
// null datapath, a real IPAM service on a unix socket): a lower MTU reaches the earlier clients,
// and a new prefix from the IPAM service gives clients new addresses and the peer link new
// routes at once, through the monitor's REFRESH_REQUESTED and the clients' upstreamrefresh.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  create,
  ConnectionContextSchema,
  DNSConfigSchema,
  DNSContextSchema,
  type Connection,
} from "../../src/api/index.js";
import { newCtx, type ClientElement } from "../../src/core/index.js";
import { vl3Client } from "../../src/networkservice/common/vl3/client.js";
import { vl3Server } from "../../src/networkservice/common/vl3/server.js";
import { vl3MtuServer } from "../../src/networkservice/common/vl3mtu/server.js";
import type { NetworkServiceEndpointHandle } from "../../src/networkservice/components.js";
import { parseNsUrl, requestFromNsUrl } from "../../src/networkservice/utils/nsurl.js";
import { Vl3Pool } from "../../src/networkservice/utils/vl3pool.js";
import { subscribePrefix } from "../../src/networkservice/vl3ipam/client.js";
import { serveIpam, type IpamServer } from "../../src/networkservice/vl3ipam/server.js";
import { sandbox } from "../../src/sandbox/index.js";

/** polls `f` until it returns something (5 s at most) */
async function until<T>(what: string, f: () => T | undefined): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** the endpoint's current view of the connection whose first segment id is `id` */
const atNse = (nse: NetworkServiceEndpointHandle, id: string): Connection | undefined =>
  [...nse.endpoint.monitor.connections.values()].find((c) => c.path?.pathSegments[0]?.id === id);

const routes = (rs: readonly { prefix: string; nextHop: string }[]) => rs.map((r) => `${r.prefix} via ${r.nextHop}`);

test(
  "vL3 endpoint: a lower MTU and a new prefix reach the connections already made",
  { timeout: 30_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "t-vl3r-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const ipamUrl = `unix://${join(dir, "ipam.sock")}`;
    let ipam: IpamServer = await serveIpam({ listenOn: [ipamUrl], prefix: "172.16.0.0/16", clientPrefixLen: 24 });
    t.after(() => ipam.close());
    const life = new AbortController();
    t.after(() => life.abort());
    const poolA = new Vl3Pool(),
      poolB = new Vl3Pool();
    const subA = subscribePrefix({ url: ipamUrl, signal: life.signal, onPrefix: (p, ex) => poolA.reset(p, ex) });
    assert.equal(await subA.first, "172.16.0.0/24");
    const subB = subscribePrefix({ url: ipamUrl, signal: life.signal, onPrefix: (p, ex) => poolB.reset(p, ex) });
    assert.equal(await subB.first, "172.16.1.0/24");

    const sb = await sandbox();
    t.after(() => sb.close());
    const node = sb.node(0);
    const mtuA = vl3MtuServer();
    const a = await node.endpoint({ name: "vl3-a", services: ["vl3"], ipam: [mtuA, vl3Server(poolA)] });
    await node.endpoint({ name: "vl3-b", services: ["vl3"], ipam: [vl3MtuServer(), vl3Server(poolB)] });

    const request = async (
      nsc: Awaited<ReturnType<typeof node.client>>,
      id: string,
      nse: string,
      edit?: (c: Connection) => void,
    ) => {
      const req = requestFromNsUrl(parseNsUrl("kernel://vl3/nsm-1"), id);
      req.connection!.networkServiceEndpointName = nse;
      edit?.(req.connection!);
      return nsc.handle.client.request(req, newCtx({ timeoutMs: 5000 }));
    };
    // two clients of vl3-a, and vl3-b's link to vl3-a (its own address and a DNS config, as vl3dns adds)
    const nsc1 = await node.client({ name: "nsc1" });
    const c1 = await request(nsc1, "c1", "vl3-a");
    assert.deepEqual(c1.context!.ipContext!.srcIpAddrs, ["172.16.0.1/32"]);
    assert.equal(c1.context!.MTU, 9000);
    const dnsOfB: ClientElement = {
      request(req, ctx, next) {
        const cc = (req.connection!.context ??= create(ConnectionContextSchema));
        const d = (cc.dnsContext ??= create(DNSContextSchema));
        if (!d.configs.length) d.configs.push(create(DNSConfigSchema, { dnsServerIps: [poolB.selfIp] }));
        return next.request(req, ctx);
      },
    };
    const link = await node.client({ name: "vl3-b", heal: { keepEndpoint: true }, extra: [vl3Client(poolB), dnsOfB] });
    const l = await request(link, "vl3-b-vl3-a", "vl3-a");
    assert.deepEqual(l.context!.ipContext!.srcIpAddrs, ["172.16.1.0/32"], "nothing allocated for a peer");

    // an MTU lower than 9000 comes with a later client: c1 and the link are told and request again
    const nsc2 = await node.client({ name: "nsc2" });
    const t0 = performance.now();
    const c2 = await request(nsc2, "c2", "vl3-a", (c) => {
      c.context = create(ConnectionContextSchema, { MTU: 1400 });
    });
    assert.equal(c2.context!.MTU, 1400);
    assert.equal(mtuA.mtu, 1400);
    await until("c1 to get MTU 1400", () => (atNse(a, c1.id)?.context?.MTU === 1400 ? true : undefined));
    await until("the link to get MTU 1400", () => (atNse(a, l.id)?.context?.MTU === 1400 ? true : undefined));
    t.diagnostic(`MTU pushed to the earlier connections within ${(performance.now() - t0).toFixed(0)} ms`);
    // the forwarder's datapath follows (it is applied once the endpoint has answered)
    await until("the forwarder to be asked for MTU 1400", () =>
      [...node.backends[0]!.crossConnects.values()].some(
        (x) => x.incoming.path?.pathSegments[0]?.id === c1.id && x.outgoing.context?.MTU === 1400,
      )
        ? true
        : undefined,
    );

    // the IPAM service comes back with another pool: both endpoints get new prefixes
    await ipam.close();
    ipam = await serveIpam({ listenOn: [ipamUrl], prefix: "10.99.0.0/16", clientPrefixLen: 24 });
    const t1 = performance.now();
    await until("new prefixes", () =>
      poolA.prefix.startsWith("10.99.") && poolB.prefix.startsWith("10.99.") ? true : undefined,
    );
    const sA = poolA.selfIp,
      sB = poolB.selfIp;
    const c1n = await until("c1 to get an address from the new prefix", () => {
      const c = atNse(a, c1.id);
      return c?.context?.ipContext?.srcIpAddrs[0]?.startsWith("10.99.") ? c : undefined;
    });
    t.diagnostic(`new address ${(performance.now() - t1).toFixed(0)} ms after the IPAM service came back`);
    const ip1 = c1n.context!.ipContext!;
    assert.equal(ip1.srcIpAddrs.length, 1);
    assert.ok(poolA.owns(ip1.srcIpAddrs[0]!), `${ip1.srcIpAddrs[0]} lies in ${poolA.prefix}`);
    assert.deepEqual(ip1.dstIpAddrs, [`${sA}/32`]);
    assert.deepEqual(routes(ip1.srcRoutes), [`${sA}/32 via ${sA}`, `${poolA.prefix} via ${sA}`, `${sA}/16 via ${sA}`]);
    // the link: vl3-b's new address and prefix routed to it, vl3-a's new ones to vl3-a; nothing old
    const ln = await until("the link to carry both new prefixes", () => {
      const c = atNse(a, l.id);
      const ip = c?.context?.ipContext;
      return ip?.srcIpAddrs[0] === `${sB}/32` && ip.dstIpAddrs[0] === `${sA}/32` ? c : undefined;
    });
    const lip = ln.context!.ipContext!;
    assert.deepEqual(lip.srcIpAddrs, [`${sB}/32`]);
    assert.deepEqual(lip.dstIpAddrs, [`${sA}/32`]);
    assert.deepEqual(routes(lip.srcRoutes), [`${sA}/32 via ${sA}`, `${poolA.prefix} via ${sA}`, `${sA}/16 via ${sA}`]);
    assert.deepEqual(
      routes(lip.dstRoutes).sort(),
      [`${sB}/32 via ${sB}`, `${poolB.prefix} via ${sB}`, `${sB}/32 via `].sort(),
    );
    assert.equal(ln.context!.MTU, 1400, "the MTU stays");
  },
);
