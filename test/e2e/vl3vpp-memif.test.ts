/**
 * MEMIF into the VPP vL3 endpoint: two clients (KERNEL) through a forwarder on the VPP backend
 * (its VPP in a "node" netns, offering endpoints only MEMIF) to a vL3 endpoint whose own VPP runs
 * in the endpoint's netns (NSM_VL3_DATAPATH=vpp, NSM_VPP_API_SOCKET); the endpoint answers MEMIF
 * with an abstract socket in its netns, its VPP listens there as memif master, the forwarder's VPP
 * connects as slave. Each client pings the endpoint's S and the other client; after Close the
 * endpoint's VPP has no memif interface or socket of ours left. Root and VPP only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import type { Connection } from "../../src/api/index.js";
import { newCtx } from "../../src/core/index.js";
import { createClient } from "../../src/networkservice/components.js";
import { createVl3Endpoint } from "../../src/networkservice/components/vl3.js";
import { parseNsUrl, requestFromNsUrl } from "../../src/networkservice/utils/nsurl.js";
import { serveIpam } from "../../src/networkservice/vl3ipam/server.js";
import { VppClient } from "../../src/vpp/client.js";
import { pingUntil } from "../helpers/workloads.js";
import { startVpp, vppctl, vppNode, vppSkip } from "../helpers/vpp.js";

test(
  "vl3 vpp over MEMIF: clients through the VPP forwarder reach the endpoint's S and each other; Close leaves its VPP clean",
  { skip: vppSkip, timeout: 120_000 },
  async (t) => {
    const { sb, h, mgr } = await vppNode(t, "nsm-v3m-", { endpointMechanisms: ["MEMIF"] });
    const ipamUrl = h.sock("ipam");
    const ipam = await serveIpam({ listenOn: [ipamUrl], prefix: "172.16.40.0/16", clientPrefixLen: 24 });
    sb.cleanup.push("ipam", () => ipam.close());
    const e = sb.netns();
    for (const k of ["all", "default"])
      execFileSync("ip", ["netns", "exec", e.name, "sysctl", "-qw", `net.ipv4.conf.${k}.arp_ignore=8`]);
    const evpp = await startVpp(t, undefined, `/run/netns/${e.name}`);
    const nse = await createVl3Endpoint({
      ...h.common,
      name: "vl3-a",
      listenOn: [h.sock("vl3-a")],
      nsmgrUrl: mgr.url,
      services: ["vl3"],
      prefixServerUrls: [ipamUrl],
      netnsPath: `/run/netns/${e.name}`,
      netnsUrl: `file:///run/netns/${e.name}`,
      dnsListenOn: "",
      datapath: "vpp",
      vppApiSocket: evpp.apiSocket,
    });
    sb.cleanup.push("vl3 endpoint", () => nse.close());
    const api = await VppClient.connect(evpp.apiSocket);
    t.after(() => api.close());
    const memifs = async () => (await api.dump("memif_dump", {})).map((m) => m.sw_if_index);
    const sockets = () =>
      vppctl(evpp, "show memif")
        .split("\n")
        .filter((l) => /^\s*\d+\s+(yes|no)\s+.*\/memif\.socket/.test(l));

    const clients = await Promise.all(
      [0, 1].map(async (i) => {
        const ns = sb.netns();
        const cl = await createClient({
          ...h.common,
          name: `nsc-${i}`,
          nsmgrUrl: mgr.url,
          netnsUrl: `file:///run/netns/${ns.name}`,
          heal: false,
        });
        sb.cleanup.push(`nsc-${i}`, () => cl.close());
        return { ns, cl };
      }),
    );
    const conns: Connection[] = [];
    for (const [i, c] of clients.entries()) {
      const conn = await c.cl.client.request(
        requestFromNsUrl(parseNsUrl("kernel://vl3/nsm-1"), `nsc-${i}`),
        newCtx({ timeoutMs: 15_000 }),
      );
      assert.equal(conn.mechanism?.type, "KERNEL");
      conns.push(conn);
    }
    const addr = (i: number) => conns[i]!.context!.ipContext!.srcIpAddrs[0]!.split("/")[0]!;
    const self = conns[0]!.context!.ipContext!.dstIpAddrs[0]!.split("/")[0]!;
    assert.equal((await memifs()).length, 2, "one memif master per connection in the endpoint's VPP");
    assert.equal(sockets().length, 2, "on a socket of its own each");
    for (const id of await memifs()) {
      const [d] = await api.dump("sw_interface_dump", { sw_if_index: id });
      assert.equal(d?.mtu[0], conns[0]!.context!.MTU, "the context's MTU on the memif");
    }
    const t0 = Date.now();
    await pingUntil(clients[0]!.ns.name, self, 20_000);
    t.diagnostic(`first echo from S after ${Date.now() - t0} ms`);
    await pingUntil(clients[1]!.ns.name, self, 20_000);
    await pingUntil(clients[0]!.ns.name, addr(1), 10_000);
    await pingUntil(clients[1]!.ns.name, addr(0), 10_000);
    assert.match(vppctl(evpp, "show memif"), /flags admin-up connected/);
    // a refresh keeps the memif (same interface, same socket) and the path through it
    const before = await memifs();
    conns[0] = await clients[0]!.cl.client.request(
      requestFromNsUrl(parseNsUrl("kernel://vl3/nsm-1"), "nsc-0"),
      newCtx({ timeoutMs: 15_000 }),
    );
    assert.deepEqual(await memifs(), before, "a refresh keeps the memif");
    await pingUntil(clients[0]!.ns.name, addr(1), 10_000);

    for (const [i, c] of clients.entries()) await c.cl.client.close(conns[i]!, newCtx({ timeoutMs: 10_000 }));
    assert.deepEqual(await memifs(), [], "no memif interface left in the endpoint's VPP");
    assert.deepEqual(sockets(), [], "no memif socket of ours left");
  },
);
