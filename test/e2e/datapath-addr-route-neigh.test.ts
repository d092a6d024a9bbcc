// Root only: addresses, routes and neighbours through src/datapath, checked against `ip`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { ipJson, rootSkip, sandbox } from "../../src/datapath/testing/index.js";

const skip = rootSkip;
interface IpAddr {
  ifname: string;
  addr_info: {
    family: string;
    local: string;
    prefixlen: number;
    scope: string;
    nodad?: boolean;
    tentative?: boolean;
    address?: string;
  }[];
}
interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  prefsrc?: string;
  metric?: number;
  table?: string;
  flags: string[];
  scope?: string;
  protocol?: string;
}
interface IpNeigh {
  dst: string;
  dev: string;
  lladdr?: string;
  state: string[];
}

async function fixture(t: Parameters<typeof sandbox>[0]) {
  const f = sandbox(t).netns();
  await f.ns
    .batch()
    .linkAdd({ kind: "veth", attrs: { name: "e0", up: true }, peer: { name: "e1", up: true } })
    .commit();
  return f;
}

test(
  "addresses v4 and v6 (IPv6 with nodad: usable at once), replace, delete, dump",
  { skip, timeout: 20_000 },
  async (t) => {
    const { ns, name } = await fixture(t);
    await ns
      .batch()
      .addrAdd({ link: "e0", cidr: "172.16.1.2/32" })
      .addrAdd({ link: "e0", cidr: "10.0.0.1/24", broadcast: "10.0.0.255", label: "e0:x" })
      .addrAdd({ link: "e0", cidr: "fd00:1::2/64" })
      .addrAdd({ link: "e1", cidr: "192.168.7.1/32", peer: "192.168.7.2" })
      .commit();
    const a = ipJson<IpAddr[]>("-n", name, "addr", "show", "e0")[0]!.addr_info;
    assert.ok(a.some((x) => x.local === "172.16.1.2" && x.prefixlen === 32));
    assert.ok(a.some((x) => x.local === "10.0.0.1" && x.prefixlen === 24));
    const v6 = a.find((x) => x.local === "fd00:1::2")!;
    assert.equal(v6.nodad, true);
    assert.notEqual(v6.tentative, true, "nodad address must not be tentative");
    assert.equal(
      execFileSync("ip", ["netns", "exec", name, "cat", "/proc/sys/net/ipv6/conf/e0/disable_ipv6"], {
        encoding: "utf8",
      }).trim(),
      "0",
    );
    const p = ipJson<IpAddr[]>("-n", name, "addr", "show", "e1")[0]!.addr_info.find((x) => x.local === "192.168.7.1")!;
    assert.equal(p.address, "192.168.7.2");

    const ours = await ns.addrs({ link: "e0" });
    const o6 = ours.find((x) => x.cidr === "fd00:1::2/64")!;
    assert.equal(o6.family, 6);
    assert.equal(o6.tentative, false);
    assert.ok(ours.some((x) => x.cidr === "172.16.1.2/32" && x.permanent));
    assert.equal((await ns.addrs({ link: "e1", family: 4 }))[0]?.peer, "192.168.7.2");

    await ns.batch().addrReplace({ link: "e0", cidr: "172.16.1.2/32" }).commit(); // no EEXIST
    await ns
      .batch()
      .addrDel({ link: "e0", cidr: "172.16.1.2/32" })
      .addrDel({ link: "e0", cidr: "fd00:1::2/64" })
      .commit();
    const left = (await ns.addrs({ link: "e0" })).map((x) => x.cidr);
    assert.ok(!left.includes("172.16.1.2/32") && !left.includes("fd00:1::2/64"), left.join(","));
  },
);

test(
  "routes: gateway, device, source, metric, table; replace and delete; dump",
  { skip, timeout: 20_000 },
  async (t) => {
    const { ns, name } = await fixture(t);
    await ns
      .batch()
      .addrAdd({ link: "e0", cidr: "172.16.1.2/24" })
      .addrAdd({ link: "e0", cidr: "fd00:1::2/64" })
      .routeAdd({ dst: "172.16.1.1/32", dev: "e0" })
      .routeAdd({ dst: "192.168.0.0/16", via: "172.16.1.1", dev: "e0", src: "172.16.1.2", metric: 7 })
      .routeAdd({ dst: "10.0.0.0/8", via: "172.16.1.9", dev: "e0", onlink: true, table: 1000 })
      .routeAdd({ dst: "default", via: "172.16.1.1", table: 42 })
      .routeAdd({ dst: "fd00:2::/64", via: "fd00:1::1", dev: "e0", metric: 100 })
      .routeAdd({ dst: "10.1.2.3/16", dev: "e0", table: 42 }) // host bits are masked like upstream
      .commit();
    const main = ipJson<IpRoute[]>("-n", name, "route", "show");
    const host = main.find((r) => r.dst === "172.16.1.1")!;
    assert.equal(host.dev, "e0");
    assert.equal(host.scope, "link");
    const gw = main.find((r) => r.dst === "192.168.0.0/16")!;
    assert.equal(gw.gateway, "172.16.1.1");
    assert.equal(gw.prefsrc, "172.16.1.2");
    assert.equal(gw.metric, 7);
    const t1000 = ipJson<IpRoute[]>("-n", name, "route", "show", "table", "1000");
    assert.equal(t1000[0]?.dst, "10.0.0.0/8");
    assert.ok(t1000[0]?.flags.includes("onlink"));
    const t42 = ipJson<IpRoute[]>("-n", name, "route", "show", "table", "42")
      .map((r) => r.dst)
      .sort();
    assert.deepEqual(t42, ["10.1.0.0/16", "default"]);
    assert.equal(ipJson<IpRoute[]>("-6", "-n", name, "route", "show", "fd00:2::/64")[0]?.gateway, "fd00:1::1");

    const ours = await ns.routes();
    const og = ours.find((r) => r.dst === "192.168.0.0/16")!;
    assert.deepEqual(
      { via: og.via, dev: og.dev, src: og.src, metric: og.metric, table: og.table },
      { via: "172.16.1.1", dev: "e0", src: "172.16.1.2", metric: 7, table: 254 },
    );
    assert.ok((await ns.routes({ table: 42 })).some((r) => r.dst === "default" && r.via === "172.16.1.1"));
    assert.ok((await ns.routes({ table: "all" })).some((r) => r.table === 1000 && r.onlink));
    assert.ok((await ns.routes({ family: 6 })).some((r) => r.dst === "fd00:2::/64" && r.via === "fd00:1::1"));

    await ns.routeReplace({ dst: "192.168.0.0/16", via: "172.16.1.3", dev: "e0", metric: 7 });
    assert.equal(ipJson<IpRoute[]>("-n", name, "route", "show", "192.168.0.0/16")[0]?.gateway, "172.16.1.3");
    await ns
      .batch()
      .routeDel({ dst: "192.168.0.0/16", metric: 7 })
      .routeDel({ dst: "10.0.0.0/8", table: 1000 })
      .routeDel({ dst: "default", family: 4, table: 42 })
      .routeDel({ dst: "fd00:2::/64", dev: "e0", metric: 100 })
      .commit();
    assert.equal(ipJson<IpRoute[]>("-n", name, "route", "show", "192.168.0.0/16").length, 0);
    assert.equal(ipJson<IpRoute[]>("-n", name, "route", "show", "table", "1000").length, 0);
    assert.deepEqual(
      ipJson<IpRoute[]>("-n", name, "route", "show", "table", "42").map((r) => r.dst),
      ["10.1.0.0/16"],
    );
  },
);

test("neighbours: add permanent, replace as reachable, delete; dump", { skip, timeout: 20_000 }, async (t) => {
  const { ns, name } = await fixture(t);
  await ns
    .batch()
    .neighAdd({ link: "e0", ip: "172.16.1.1", mac: "aa:bb:cc:dd:ee:01" })
    .neighAdd({ link: "e0", ip: "fd00::1", mac: "aa:bb:cc:dd:ee:02", state: "permanent" })
    .commit();
  const n = ipJson<IpNeigh[]>("-n", name, "neigh", "show", "dev", "e0");
  const v4 = n.find((x) => x.dst === "172.16.1.1")!;
  assert.equal(v4.lladdr, "aa:bb:cc:dd:ee:01");
  assert.deepEqual(v4.state, ["PERMANENT"]);
  assert.equal(n.find((x) => x.dst === "fd00::1")?.lladdr, "aa:bb:cc:dd:ee:02");
  await ns.neighReplace({ link: "e0", ip: "172.16.1.1", mac: "aa:bb:cc:dd:ee:09", state: "reachable" });
  const ours = (await ns.neighs({ link: "e0" })).find((x) => x.ip === "172.16.1.1")!;
  assert.equal(ours.mac, "aa:bb:cc:dd:ee:09");
  assert.equal(ours.state, "reachable");
  await ns.batch().neighDel({ link: "e0", ip: "172.16.1.1" }).neighDel({ link: "e0", ip: "fd00::1" }).commit();
  const left = ipJson<IpNeigh[]>("-n", name, "neigh", "show", "dev", "e0").filter(
    (x) => x.state.includes("PERMANENT") || x.state.includes("REACHABLE"),
  );
  assert.deepEqual(left, []);
  // `ip` sees the same table we dump.
  assert.equal(
    execFileSync("ip", ["-n", name, "neigh", "show", "dev", "e0"], { encoding: "utf8" }).includes("aa:bb:cc"),
    false,
  );
});
