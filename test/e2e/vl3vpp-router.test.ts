/**
 * The vL3 endpoint's VPP router (src/networkservice/common/vl3vpp/router.ts) against a real VPP in
 * an endpoint netns, with two client netns joined to it by veth pairs the way the forwarder joins
 * them (the endpoint's end carries S and a route to the client): the kernel's addresses and routes
 * go (and go again when a re-plumb puts them back: the router watches netlink), VPP routes client
 * to client through the service's VRF, the connection's MTU is set on the VPP interface (again
 * when a refresh lowers it), and detach takes the route away.
 * Root and VPP only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { VL3_VPP_MESSAGES } from "../../src/networkservice/common/vl3vpp/ifaces.js";
import { Vl3VppRouter, VL3_FIRST_TABLE } from "../../src/networkservice/common/vl3vpp/router.js";
import { ping, sandbox } from "../../src/datapath/testing/index.js";
import { silentLogger } from "../../src/tools/log.js";
import { VppClient } from "../../src/vpp/client.js";
import { startVpp, vppctl, vppSkip } from "../helpers/vpp.js";

test(
  "vl3 vpp router: two clients reach each other and S through VPP; the kernel keeps out",
  { skip: vppSkip, timeout: 60_000 },
  async (t) => {
    const sb = sandbox(t);
    const e = sb.netns();
    for (const [k, v] of [
      ["net.ipv4.conf.all.arp_ignore", "8"],
      ["net.ipv4.conf.default.arp_ignore", "8"],
    ])
      execFileSync("ip", ["netns", "exec", e.name, "sysctl", "-qw", `${k}=${v}`]);
    const vpp = await startVpp(t, undefined, `/run/netns/${e.name}`);
    const api = await VppClient.connect(vpp.apiSocket, { require: VL3_VPP_MESSAGES });
    t.after(() => api.close());
    const router = new Vl3VppRouter(api, e.ns, silentLogger);
    t.after(() => router.close());
    await router.setSelf(["172.16.5.0/32"]);
    const clients = [1, 2].map((i) => {
      const c = sb.netns();
      return { ...c, ip: `172.16.5.${i}`, end: `e${i}` };
    });
    for (const c of clients) {
      // as the forwarder plumbs a KERNEL connection: the client's end, and ours with S and a route to the client
      await e.ns
        .batch()
        .linkAdd({ kind: "veth", attrs: { name: c.end, up: true }, peer: { name: "nsm-1", netns: c.ns, up: true } })
        .addrReplace({ link: c.end, cidr: "172.16.5.0/32" })
        .routeReplace({ dst: `${c.ip}/32`, dev: c.end, scope: "link" })
        .in(c.ns, (b) =>
          b
            .addrReplace({ link: "nsm-1", cidr: `${c.ip}/32` })
            .routeReplace({ dst: "172.16.5.0/32", dev: "nsm-1", scope: "link" })
            .routeReplace({ dst: "172.16.5.0/24", via: "172.16.5.0", dev: "nsm-1", onlink: true }),
        )
        .commit();
      // the first with the context's MTU (below the veth's 1500), the second without (the kernel's)
      await router.attach(`conn-${c.end}`, "vl3", c.end, [{ dst: `${c.ip}/32`, dev: c.end, scope: "link" }], {
        ...(c.end === "e1" ? { mtu: 1450 } : {}),
      });
    }
    const l3Mtu = (ifname: string) =>
      new RegExp(`^host-${ifname}\\s+\\d+\\s+\\w+\\s+(\\d+)/`, "m").exec(vppctl(vpp, "show interface"))?.[1];
    assert.equal(l3Mtu("e1"), "1450", "the context's MTU is set on the VPP interface");
    assert.equal(l3Mtu("e2"), "1500", "without one, the kernel interface's");
    // a refresh with a lower MTU (vl3mtu lowered it) sets it again
    await router.attach("conn-e1", "vl3", "e1", [{ dst: "172.16.5.1/32", dev: "e1", scope: "link" }], { mtu: 1400 });
    assert.equal(l3Mtu("e1"), "1400", "a refresh's lower MTU is set on the VPP interface");
    // above the kernel interface's, the kernel's holds (the veth would drop bigger frames)
    await router.attach("conn-e2", "vl3", "e2", [{ dst: "172.16.5.2/32", dev: "e2", scope: "link" }], { mtu: 9000 });
    assert.equal(l3Mtu("e2"), "1500");
    assert.deepEqual(
      (await e.ns.addrs({ family: 4 })).filter((a) => a.link !== "lo").map((a) => a.cidr),
      [],
      "the forwarder's addresses are off the kernel's interfaces",
    );
    assert.deepEqual(
      (await e.ns.routes({ family: 4 })).map((r) => r.dst),
      [],
      "and its routes",
    );
    // a re-plumb (the forwarder on a refresh) puts them back: the router's netlink watch takes them off
    await e.ns
      .batch()
      .addrReplace({ link: "e1", cidr: "172.16.5.0/32" })
      .routeReplace({ dst: "172.16.5.1/32", dev: "e1", scope: "link" })
      .commit();
    const kernelLeft = async () => [
      ...(await e.ns.addrs({ family: 4 })).filter((a) => a.link !== "lo").map((a) => a.cidr),
      ...(await e.ns.routes({ family: 4 })).map((r) => r.dst),
    ];
    const replumbed = Date.now();
    for (let i = 0; (await kernelLeft()).length && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await kernelLeft(), [], "a re-plumbed address and route are taken off again");
    t.diagnostic(`re-plumbed address and route taken off within ${Date.now() - replumbed} ms`);
    await ping(clients[0]!.name, "172.16.5.2", 1, 5);
    await ping(clients[1]!.name, "172.16.5.1", 1, 5);
    await ping(clients[0]!.name, "172.16.5.0", 1, 5);
    const fib = () => vppctl(vpp, `show ip fib table ${VL3_FIRST_TABLE}`);
    assert.match(fib(), /172\.16\.5\.1\/32/);
    assert.equal(router.tableOf("vl3"), VL3_FIRST_TABLE);

    await router.detach("conn-e1");
    assert.doesNotMatch(fib(), /172\.16\.5\.1\/32/);
    assert.equal(router.attached().size, 1);
    await assert.rejects(ping(clients[1]!.name, "172.16.5.1", 1, 1));
  },
);
