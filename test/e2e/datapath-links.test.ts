// Root only: every link operation of src/datapath in fresh namespaces, checked against `ip`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { Netns } from "../../src/datapath/index.js";
import { ip, ipJson, ping, rootLeftovers, rootSkip, sandbox } from "../../src/datapath/testing/index.js";

const skip = rootSkip;
interface IpLink {
  ifname: string;
  ifindex: number;
  mtu: number;
  address: string;
  flags: string[];
  ifalias?: string;
  master?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}
const links = (ns: string): Map<string, IpLink> =>
  new Map(ipJson<IpLink[]>("-d", "-n", ns, "link", "show").map((l) => [l.ifname, l]));

test(
  "veth pair with the peer created directly in another netns (handle, name, pid, path refs)",
  { skip, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const a = sb.netns(),
      b = sb.netns();
    const sleeper = spawn("ip", ["netns", "exec", b.name, "sleep", "30"], { stdio: "ignore" });
    sb.cleanup.push("kill sleeper", () => sleeper.kill());
    await new Promise((r) => sleeper.once("spawn", r));
    // The sleeper is only in b once `ip netns exec` has exec'd sleep; wait for that.
    const inB = async (): Promise<void> => {
      for (let i = 0; i < 200; i++) {
        if (ip("netns", "identify", String(sleeper.pid)).trim() === b.name) return;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error("sleeper never entered netns");
    };
    await inB();
    const r = await a.ns
      .batch()
      .linkAdd({
        kind: "veth",
        attrs: { name: "va0", mtu: 1450, mac: "02:00:00:00:00:a0", up: true },
        peer: { name: "vb0", netns: b.ns, mtu: 1450, mac: "02:00:00:00:00:b0", up: true },
      })
      .linkAdd({ kind: "veth", attrs: { name: "va1" }, peer: { name: "vb1", netns: { name: b.name } } })
      .linkAdd({ kind: "veth", attrs: { name: "va2" }, peer: { name: "vb2", netns: { pid: sleeper.pid! } } })
      .linkAdd({ kind: "veth", attrs: { name: "va3" }, peer: { name: "vb3", netns: `/run/netns/${b.name}`, up: true } })
      .linkAdd({ kind: "veth", attrs: { name: "va4" }, peer: { name: "vb4" } })
      .commit();
    assert.equal(r.opMs.length, 5);
    const la = links(a.name),
      lb = links(b.name);
    for (const n of ["va0", "va1", "va2", "va3", "va4", "vb4"]) assert.ok(la.has(n), `${n} missing in a`);
    for (const n of ["vb0", "vb1", "vb2", "vb3"]) assert.ok(lb.has(n), `${n} missing in b`);
    assert.equal(la.get("va0")!.mtu, 1450);
    assert.equal(lb.get("vb0")!.address, "02:00:00:00:00:b0");
    assert.ok(la.get("va0")!.flags.includes("UP") && lb.get("vb0")!.flags.includes("UP"));
    assert.ok(la.get("va0")!.flags.includes("LOWER_UP"), "both ends up => carrier");
    assert.ok(lb.get("vb3")!.flags.includes("UP"), "peer brought up through a netns path");
    assert.ok(!lb.get("vb1")!.flags.includes("UP"));

    const ours = await a.ns.linkByName("va0");
    assert.equal(ours.kind, "veth");
    assert.equal(ours.attrs.index, la.get("va0")!.ifindex);
    assert.equal(ours.attrs.mac, "02:00:00:00:00:a0");
    assert.equal(ours.peerIndex, lb.get("vb0")!.ifindex);
    assert.deepEqual((await a.ns.links()).map((l) => l.attrs.name).sort(), [...la.keys()].sort());

    await a.ns.batch().linkDel("va0").linkDel("va1").linkDel("va2").linkDel("va3").linkDel("va4").commit();
    assert.deepEqual([...links(a.name).keys()], ["lo"]);
    assert.deepEqual([...links(b.name).keys()], ["lo"], "deleting one end removes the peer in the other netns");
    assert.deepEqual(rootLeftovers(), []);
  },
);

test("set up/down, MTU, name, MAC, alias; then delete", { skip, timeout: 20_000 }, async (t) => {
  const { ns, name } = sandbox(t).netns();
  await ns
    .batch()
    .linkAdd({ kind: "veth", attrs: { name: "x0" }, peer: { name: "x1" } })
    .commit();
  await ns
    .batch()
    .linkSetMtu("x0", 1300)
    .linkSetMac("x0", "02:11:22:33:44:55")
    .linkSetAlias("x0", "server-conn-1")
    .linkSetName("x0", "renamed0")
    .linkSetUp("renamed0")
    .commit();
  let l = links(name).get("renamed0");
  assert.ok(l, "renamed link present");
  assert.equal(l.mtu, 1300);
  assert.equal(l.address, "02:11:22:33:44:55");
  assert.equal(l.ifalias, "server-conn-1");
  assert.ok(l.flags.includes("UP"));
  const ours = await ns.linkByName("renamed0");
  assert.equal(ours.attrs.alias, "server-conn-1");
  assert.equal(ours.attrs.up, true);
  await ns.linkSet("renamed0", { up: false });
  l = links(name).get("renamed0")!;
  assert.ok(!l.flags.includes("UP"));
  await ns.linkDel("renamed0");
  assert.deepEqual([...links(name).keys()], ["lo"]);
  await assert.rejects(ns.linkByName("renamed0"), { code: "ENODEV" });
});

test("bridge with enslaved veth and tap; release from the bridge", { skip, timeout: 20_000 }, async (t) => {
  const { ns, name } = sandbox(t).netns();
  await ns
    .batch()
    .linkAdd({ kind: "bridge", attrs: { name: "br0", up: true } })
    .linkAdd({ kind: "veth", attrs: { name: "p0", master: "br0", up: true }, peer: { name: "p1" } })
    .linkAdd({ kind: "tap", attrs: { name: "tap0", mtu: 1400, up: true } })
    .linkSetMaster("tap0", "br0")
    .linkAdd({ kind: "tap", mode: "tun", attrs: { name: "tun0" } })
    .commit();
  const l = links(name);
  assert.equal(l.get("br0")!.linkinfo?.info_kind, "bridge");
  assert.equal(l.get("p0")!.master, "br0");
  assert.equal(l.get("tap0")!.master, "br0");
  assert.equal(l.get("tap0")!.mtu, 1400);
  assert.equal(l.get("tap0")!.linkinfo?.info_kind, "tun");
  assert.equal((l.get("tap0")!.linkinfo?.info_data as { type?: string }).type, "tap");
  assert.equal((l.get("tun0")!.linkinfo?.info_data as { type?: string }).type, "tun");
  const br = await ns.linkByName("br0");
  assert.equal((await ns.linkByName("p0")).attrs.masterIndex, br.attrs.index);
  await ns.batch().linkSetMaster("p0", null).commit();
  assert.equal(links(name).get("p0")!.master, undefined);
  await ns.batch().linkDel("tap0").linkDel("tun0").linkDel("p0").linkDel("br0").commit();
  assert.deepEqual([...links(name).keys()], ["lo"]);
});

test("vxlan with VNI, local, remote, port and underlay device", { skip, timeout: 20_000 }, async (t) => {
  const { ns, name } = sandbox(t).netns();
  await ns
    .batch()
    .linkAdd({ kind: "veth", attrs: { name: "u0", up: true }, peer: { name: "u1", up: true } })
    .addrAdd({ link: "u0", cidr: "192.0.2.1/24" })
    .linkAdd({
      kind: "vxlan",
      attrs: { name: "vx0", mtu: 1400 },
      vni: 4242,
      local: "192.0.2.1",
      remote: "192.0.2.2",
      port: 4790,
      underlay: "u0",
    })
    .linkAdd({ kind: "vxlan", attrs: { name: "vx6" }, vni: 16777215, local: "fd00::1", remote: "fd00::2" })
    .commit();
  const d = links(name).get("vx0")!.linkinfo!.info_data as {
    id: number;
    local: string;
    remote: string;
    port: number;
    link: string;
  };
  assert.equal(d.id, 4242);
  assert.equal(d.local, "192.0.2.1");
  assert.equal(d.remote, "192.0.2.2");
  assert.equal(d.port, 4790);
  assert.equal(d.link, "u0");
  const ours = await ns.linkByName("vx0");
  assert.deepEqual(ours.vxlan, {
    vni: 4242,
    port: 4790,
    local: "192.0.2.1",
    remote: "192.0.2.2",
    underlayIndex: (await ns.linkByName("u0")).attrs.index,
  });
  assert.deepEqual((await ns.linkByName("vx6")).vxlan?.remote, "fd00::2");
  await ns.batch().linkDel("vx0").linkDel("vx6").linkDel("u0").commit();
  assert.deepEqual([...links(name).keys()], ["lo"]);
});

test("64-bit link stats count traffic across a veth made by the library", { skip, timeout: 20_000 }, async (t) => {
  const sb = sandbox(t);
  const a = sb.netns(),
    b = sb.netns();
  await a.ns
    .batch()
    .linkAdd({ kind: "veth", attrs: { name: "s0", up: true }, peer: { name: "s1", netns: b.ns, up: true } })
    .addrAdd({ link: "s0", cidr: "10.9.0.1/30" })
    .commit();
  await b.ns.batch().addrAdd({ link: "s1", cidr: "10.9.0.2/30" }).commit();
  const before = await a.ns.stats("s0");
  await ping(a.name, "10.9.0.2", 3);
  const after = await a.ns.stats("s0");
  assert.equal(typeof after.rxPackets, "bigint");
  assert.ok(after.txPackets - before.txPackets >= 3n, `tx ${before.txPackets} -> ${after.txPackets}`);
  assert.ok(after.rxPackets - before.rxPackets >= 3n);
  assert.ok(after.txBytes > before.txBytes);
  const s = ipJson<{ ifname: string; stats64: { rx: { packets: number }; tx: { packets: number } } }[]>(
    "-s",
    "-n",
    a.name,
    "link",
    "show",
    "s0",
  )[0]!;
  assert.ok(BigInt(s.stats64.tx.packets) >= after.txPackets);
});

test(
  "Netns: open by fd duplicates, close is idempotent and waits for in-flight calls",
  { skip, timeout: 20_000 },
  async (t) => {
    const { ns, name } = sandbox(t).netns();
    const dup = Netns.open({ fd: ns.fd });
    assert.notEqual(dup.fd, ns.fd);
    assert.equal(dup.inode(), ns.inode());
    const inflight = dup.links();
    dup.close(); // deferred until the dump finishes
    dup.close();
    assert.deepEqual(
      (await inflight).map((l) => l.attrs.name),
      ["lo"],
    );
    assert.throws(() => dup.fd, { code: "EBADF" });
    await assert.rejects(dup.links(), { code: "EBADF" });
    assert.equal(ip("netns", "list").includes(name), true);
  },
);

test("linkDelGroup deletes every link of a group with one message", { skip, timeout: 20_000 }, async (t) => {
  const sb = sandbox(t);
  const a = sb.netns(),
    b = sb.netns();
  const batch = a.ns.batch();
  for (let i = 0; i < 10; i++)
    batch.linkAdd({ kind: "veth", attrs: { name: `g${i}`, group: 77 }, peer: { name: `h${i}`, netns: b.ns } });
  await batch.linkAdd({ kind: "bridge", attrs: { name: "keep" } }).commit();
  assert.equal((await a.ns.linkByName("g3")).attrs.group, 77);
  await a.ns.batch().linkDelGroup(77).commit();
  assert.deepEqual([...links(a.name).keys()].sort(), ["keep", "lo"]);
  assert.deepEqual([...links(b.name).keys()], ["lo"]);
  await assert.rejects(a.ns.batch().linkDelGroup(0).commit(), { code: "EINVAL" });
});

test("linkSetNetns moves a link; Netns.current is the process's namespace", { skip, timeout: 20_000 }, async (t) => {
  const sb = sandbox(t);
  const a = sb.netns(),
    b = sb.netns();
  await a.ns
    .batch()
    .linkAdd({ kind: "veth", attrs: { name: "m0" }, peer: { name: "m1" } })
    .linkSetNetns("m1", b.ns)
    .commit();
  assert.deepEqual([...links(a.name).keys()].sort(), ["lo", "m0"]);
  assert.deepEqual([...links(b.name).keys()].sort(), ["lo", "m1"]);
  await a.ns.batch().linkSetNetns("m0", { name: b.name }).commit();
  assert.deepEqual([...links(b.name).keys()].sort(), ["lo", "m0", "m1"]);
  const self = Netns.current();
  try {
    const { statSync } = await import("node:fs");
    const st = statSync("/proc/self/ns/net");
    assert.equal(self.inode(), `${st.dev}:${st.ino}`);
    assert.notEqual(a.ns.inode(), self.inode());
  } finally {
    self.close();
  }
});
