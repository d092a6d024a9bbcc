import { test } from "node:test";
import assert from "node:assert/strict";
import {
  cls,
  create,
  ifnameFor,
  kernel,
  LINUX_IF_MAX_LENGTH,
  mechanismsOf,
  mechType,
  memif,
  newMechanism,
  NetworkServiceRequestSchema,
  parseBool,
  randomIfname,
  srv6,
  truncateIfname,
  vlan,
  vxlan,
  wireguard,
  ConnectionSchema,
} from "../../src/api/index.js";

const bytes = (s: string) => Buffer.byteLength(s);
const LINUX_OK = /^[A-Za-z0-9._-]{1,15}$/;

test("ifnameFor: 15 bytes, stable per id, distinct across ids, upstream shape", () => {
  const a = ifnameFor("icmp-responder", "conn-1");
  assert.equal(a, ifnameFor("icmp-responder", "conn-1"));
  assert.notEqual(a, ifnameFor("icmp-responder", "conn-2"));
  assert.match(a, /^icmp-respo-[0-9A-Za-z]{4}$/);
  assert.match(ifnameFor("nsm", "x"), /^nsm-[0-9A-Za-z]{11}$/);
  const names = new Set<string>();
  for (const [p, id] of [
    ["", "a"],
    ["a", "b"],
    ["exactly-ten", "c"],
    ["ünïcødé/ sérvice", "d"],
    ["x".repeat(40), "e"],
  ] as const) {
    const n = ifnameFor(p, id);
    assert.equal(bytes(n), LINUX_IF_MAX_LENGTH, n);
    assert.match(n, LINUX_OK, n);
    names.add(n);
  }
  for (let i = 0; i < 1000; i++) names.add(ifnameFor("nsm", `id-${i}`));
  assert.equal(names.size, 1005);
});

test("randomIfname: upstream shape, random", () => {
  const a = randomIfname("icmp-responder");
  assert.match(a, /^icmp-respo-[0-9A-Za-z]{4}$/);
  assert.notEqual(randomIfname("nsm"), randomIfname("nsm"));
  assert.equal(bytes(randomIfname("")), 15);
});

test("truncateIfname keeps ≤ 15 bytes and whole characters", () => {
  assert.equal(truncateIfname("a-very-long-interface-name"), "a-very-long-int");
  assert.equal(truncateIfname("short"), "short");
  const t = truncateIfname("ééééééééé"); // 2 bytes each
  assert.equal(t, "ééééééé");
  assert.ok(bytes(t) <= 15);
});

test("kernel helpers work on mechanism, connection and request", () => {
  const req = create(NetworkServiceRequestSchema, {
    connection: { id: "c1" },
    mechanismPreferences: [kernel.newKernel({ netnsUrl: kernel.SELF_NETNS_URL }), memif.newMemif("/run/x.sock")],
  });
  assert.equal(kernel.ifnameOf(req), undefined);
  kernel.setIfname(req, kernel.ifname("nsm", "c1"));
  assert.equal(kernel.ifnameOf(req), ifnameFor("nsm", "c1"));
  kernel.setIfname(req, "other", { keep: true });
  assert.equal(kernel.ifnameOf(req), ifnameFor("nsm", "c1"), "keep leaves an existing name");
  assert.equal(memif.inodeUrlOf(req), "file:///run/x.sock");
  assert.equal(req.mechanismPreferences[1]!.parameters.name, undefined, "only KERNEL mechanisms are touched");
  assert.equal(kernel.netnsUrlOf(req), "file:///proc/thread-self/ns/net");
  kernel.setIfname(req.mechanismPreferences[0]!, "a-very-long-interface-name");
  assert.equal(kernel.ifnameOf(req.mechanismPreferences[0]), "a-very-long-int");

  const conn = create(ConnectionSchema, {
    id: "c1",
    mechanism: newMechanism(cls.LOCAL, mechType.KERNEL, { name: "nsm-1", vlan: "5000", supportsVlan: "True" }),
  });
  assert.equal(kernel.ifnameOf(conn), "nsm-1");
  assert.equal(kernel.vlanOf(conn), 0, "out of 12-bit range reads as 0");
  assert.equal(kernel.supportsVlan(conn), true);
  assert.equal(mechanismsOf(conn).length, 1);
  assert.deepEqual(
    mechanismsOf(req, mechType.MEMIF).map((m) => m.type),
    ["MEMIF"],
  );
});

test("vxlan getters/setters and VNI parity", () => {
  const m = vxlan.newVxlan("172.18.0.1");
  assert.equal(m.cls, "REMOTE");
  vxlan.setDstIp(m, "172.18.0.2");
  vxlan.setVni(m, 4242);
  vxlan.setDstPort(m, 4789);
  assert.deepEqual(m.parameters, { src_ip: "172.18.0.1", dst_ip: "172.18.0.2", vni: "4242", dst_port: "4789" });
  assert.equal(vxlan.vni(m), 4242);
  assert.equal(vxlan.dstPort(m), 4789);
  assert.equal(vxlan.mtu(m), 0);
  m.parameters.vni = "16777216";
  assert.equal(vxlan.vni(m), 0, "> 24 bits reads as 0");

  const even = (src: string, dst: string, orig?: [string, string]) => {
    const x = newMechanism(cls.REMOTE, mechType.VXLAN, { src_ip: src, dst_ip: dst });
    if (orig) {
      vxlan.setOrigSrcIp(x, orig[0]);
      vxlan.setOrigDstIp(x, orig[1]);
    }
    return vxlan.vniShouldBeEven(x);
  };
  assert.equal(even("172.18.0.1", "172.18.0.2"), true);
  assert.equal(even("172.18.0.2", "172.18.0.1"), false);
  assert.equal(even("172.18.0.2", "172.18.0.1", ["172.28.0.1", "172.28.0.2"]), true);
  assert.equal(even("fd00::1", "fd00::2"), true);
  assert.equal(even("fd00::2", "fd00::1"), false);
  const odd = newMechanism(cls.REMOTE, mechType.VXLAN, { src_ip: "10.0.0.2", dst_ip: "10.0.0.1" });
  assert.equal(vxlan.randomVni(odd, 7) % 2, 1);
  assert.equal(vxlan.randomVni(odd, 0xffffffff), 0xffffff);
  assert.deepEqual([...vxlan.ip16("::ffff:1.2.3.4")!], [...vxlan.ip16("1.2.3.4")!]);
});

test("other mechanisms and parsers", () => {
  const w = wireguard.newWireguard("10.0.0.1");
  wireguard.setSrcPublicKey(w, "k=");
  assert.equal(w.type, "WIREGUARD");
  assert.equal(wireguard.srcPublicKey(w), "k=");
  const v = newMechanism(cls.REMOTE, mechType.VLAN, { [vlan.keys.VLAN_ID]: "100" });
  assert.equal(vlan.vlanId(v), 100);
  const s = srv6.setSrcBsid(newMechanism(cls.REMOTE, mechType.SRV6), "fc00::1");
  assert.equal(s.parameters.src_bsid, "fc00::1");
  assert.deepEqual(["1", "t", "TRUE", "True", "0", "yes", undefined].map(parseBool), [
    true,
    true,
    true,
    true,
    false,
    false,
    false,
  ]);
});
