import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeAddr } from "./addr.js";
import { encodeLinkAdd, encodeLinkSet } from "./link.js";
import * as nl from "./netlink.js";
import { encodeRoute } from "./route.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

test("NlMsg: header, 4-byte alignment, nested attributes", () => {
  const m = new nl.NlMsg(nl.RTM_NEWLINK, nl.NLM_F_REQUEST | nl.NLM_F_ACK)
    .struct(nl.ifinfomsg({ index: 7 }))
    .str(nl.IFLA_IFNAME, "abc") // 4 + "abc\0" = 8
    .begin(nl.IFLA_LINKINFO)
    .str(nl.IFLA_INFO_KIND, "veth")
    .end() // 4 + (4 + 5 -> 8) = 16
    .done();
  assert.equal(m.length, 16 + 16 + 8 + 16);
  const b = Buffer.from(m);
  assert.equal(b.readUInt32LE(0), m.length);
  assert.equal(b.readUInt16LE(4), nl.RTM_NEWLINK);
  assert.equal(b.readUInt16LE(6), nl.NLM_F_REQUEST | nl.NLM_F_ACK);
  assert.equal(b.readInt32LE(16 + 4), 7);
  assert.equal(hex(b.subarray(32, 40)), "0800030061626300");
  assert.equal(b.readUInt16LE(40), 4 + 12, "nest length covers the padded child");
  assert.equal(b.readUInt16LE(42), nl.IFLA_LINKINFO);
  assert.equal(b.readUInt16LE(44), 4 + 5, "attribute length excludes padding");
  const at = nl.parseAttrs(b.subarray(16), 16);
  assert.equal(nl.attrStr(at.get(nl.IFLA_IFNAME)), "abc");
  assert.equal(nl.attrStr(nl.parseAttrs(at.get(nl.IFLA_LINKINFO)!).get(nl.IFLA_INFO_KIND)), "veth");
});

test("veth with a peer netns reference: nested peer ifinfomsg and an nsfd fixup", () => {
  const msgs = encodeLinkAdd(
    { kind: "veth", attrs: { name: "a", mtu: 1400, up: true }, peer: { name: "b", netns: { name: "blue" }, up: true } },
    [],
  );
  assert.equal(msgs.length, 2, "create + peer up in the peer's netns");
  const m = Buffer.from(msgs[0]!.done());
  assert.equal(m.readUInt16LE(6), nl.NLM_F_REQUEST | nl.NLM_F_ACK | nl.NLM_F_CREATE | nl.NLM_F_EXCL);
  assert.equal(m.readUInt32LE(16 + 8), nl.IFF_UP);
  const at = nl.parseAttrs(m, 32);
  assert.equal(nl.attrU32(at.get(nl.IFLA_MTU)), 1400);
  const info = nl.parseAttrs(at.get(nl.IFLA_LINKINFO)!);
  const peer = nl.parseAttrs(info.get(nl.IFLA_INFO_DATA)!).get(nl.VETH_INFO_PEER)!;
  const pat = nl.parseAttrs(peer, 16);
  assert.equal(nl.attrStr(pat.get(nl.IFLA_IFNAME)), "b");
  const fx = msgs[0]!.fixups;
  assert.equal(fx.length, 1);
  assert.deepEqual({ ...fx[0], offset: 0 }, { kind: "nsfd", offset: 0, path: "/run/netns/blue" });
  const off = (fx[0] as { offset: number }).offset;
  assert.ok(pat.get(nl.IFLA_NET_NS_FD)!.byteOffset - m.byteOffset === off, "fixup points at IFLA_NET_NS_FD's payload");
  assert.deepEqual(msgs[1]!.fixups.map((f) => f.kind).sort(), ["ifindex", "target"]);
});

test("packBatch rebases fixups onto message indexes", () => {
  const a = encodeLinkSet("x", { up: true }, []);
  const b = encodeAddr(nl.RTM_NEWADDR, nl.NLM_F_CREATE, { link: "y", cidr: "fd00::1/64" });
  const { batch, fixups } = nl.packBatch([a, b]);
  assert.deepEqual(
    fixups.map((f) => [f.msg, f.kind, "name" in f ? f.name : ""]),
    [
      [0, "ifindex", "x"],
      [1, "ifindex", "y"],
    ],
  );
  const frames = nl.parseFrames(batch);
  assert.deepEqual(
    frames.map((f) => f.type),
    [nl.RTM_NEWLINK, nl.RTM_NEWADDR],
  );
  const at = nl.parseAttrs(frames[1]!.data, 8);
  assert.equal(nl.attrU32(at.get(nl.IFA_FLAGS)), nl.IFA_F_NODAD, "IPv6 addresses are added with nodad");
  assert.equal(frames[1]!.data.readUInt8(1), 64);
});

test("routes: masked destination, table > 255 in RTA_TABLE, onlink, link scope without gateway", () => {
  const r = Buffer.from(
    encodeRoute(nl.RTM_NEWROUTE, nl.NLM_F_CREATE, {
      dst: "10.1.2.3/8",
      via: "10.0.0.1",
      onlink: true,
      table: 1000,
    }).done(),
  );
  const rtm = r.subarray(16, 28);
  assert.equal(rtm.readUInt8(1), 8);
  assert.equal(rtm.readUInt8(4), nl.RT_TABLE_UNSPEC);
  assert.equal(rtm.readUInt8(6), nl.RT_SCOPE_UNIVERSE);
  assert.equal(rtm.readUInt32LE(8), nl.RTNH_F_ONLINK);
  const at = nl.parseAttrs(r, 28);
  assert.equal(hex(at.get(nl.RTA_DST)!), "0a000000");
  assert.equal(nl.attrU32(at.get(nl.RTA_TABLE)), 1000);
  const l = Buffer.from(encodeRoute(nl.RTM_NEWROUTE, 0, { dst: "fd00::/64", dev: "e0" }).done());
  assert.equal(l.readUInt8(16 + 6), nl.RT_SCOPE_LINK);
  assert.equal(l.readUInt8(16 + 4), nl.RT_TABLE_MAIN);
});
