// OpenFlow 1.3 codec against byte vectors captured from `ovs-ofctl -O OpenFlow13` (what it sends and
// OVS 3.1 accepted), plus round trips of what we decode.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  OFPP,
  decodeActions,
  decodeError,
  decodeFlowStats,
  decodeMatch,
  decodePortStats,
  encodeAction,
  encodeFlowMod,
  encodeHello,
  encodeMatch,
  encodePortStatsRequest,
  errorNames,
  helloVersions,
  xconnectDeletes,
  xconnectFlows,
  type Action,
  type Match,
} from "../../src/ovs/openflow/index.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/^[0-9a-f]{4} {2}/gm, "").replace(/\s+/g, ""), "hex");

test("HELLO with a 1.3-only bitmap; peer versions from bitmap or header", () => {
  assert.deepEqual(encodeHello(1), hex("04 00 00 10 00 00 00 01 00 01 00 08 00 00 00 10"));
  assert.deepEqual(helloVersions(hex("06 00 00 08 00 00 00 09")), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(helloVersions(hex("04 00 00 10 00 00 00 09 00 01 00 08 00 00 00 12")), [1, 4]);
});

test("FLOW_MOD vectors: vlan match + pop_vlan, push_vlan + set_field vlan_vid, set_field tun_id, deletes", () => {
  assert.deepEqual(
    encodeFlowMod(6, {
      command: "add",
      priority: 100,
      match: { inPort: 1, vlanVid: 100 },
      actions: [{ type: "popVlan" }, { type: "output", port: 3 }],
    }),
    hex(`
0000  04 0e 00 68 00 00 00 06 00 00 00 00 00 00 00 00
0010  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 64
0020  ff ff ff ff ff ff ff ff ff ff ff ff 00 00 00 00
0030  00 01 00 12 80 00 00 04 00 00 00 01 80 00 0c 02
0040  10 64 00 00 00 00 00 00 00 04 00 20 00 00 00 00
0050  00 12 00 08 00 00 00 00 00 00 00 10 00 00 00 03
0060  00 00 00 00 00 00 00 00`),
  );
  assert.deepEqual(
    encodeFlowMod(6, {
      command: "add",
      priority: 100,
      match: { inPort: 3 },
      actions: [{ type: "pushVlan" }, { type: "setField", field: { vlanVid: 100 } }, { type: "output", port: 1 }],
    }),
    hex(`
0000  04 0e 00 70 00 00 00 06 00 00 00 00 00 00 00 00
0010  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 64
0020  ff ff ff ff ff ff ff ff ff ff ff ff 00 00 00 00
0030  00 01 00 0c 80 00 00 04 00 00 00 03 00 00 00 00
0040  00 04 00 30 00 00 00 00 00 11 00 08 81 00 00 00
0050  00 19 00 10 80 00 0c 02 10 64 00 00 00 00 00 00
0060  00 00 00 10 00 00 00 01 00 00 00 00 00 00 00 00`),
  );
  assert.deepEqual(
    encodeFlowMod(6, {
      command: "add",
      priority: 100,
      match: { inPort: 1 },
      actions: [
        { type: "setField", field: { tunnelId: 42n } },
        { type: "output", port: 4 },
      ],
    }),
    hex(`
0000  04 0e 00 68 00 00 00 06 00 00 00 00 00 00 00 00
0010  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 64
0020  ff ff ff ff ff ff ff ff ff ff ff ff 00 00 00 00
0030  00 01 00 0c 80 00 00 04 00 00 00 01 00 00 00 00
0040  00 04 00 28 00 00 00 00 00 19 00 10 80 00 4c 08
0050  00 00 00 00 00 00 00 2a 00 00 00 10 00 00 00 04
0060  00 00 00 00 00 00 00 00`),
  );
  assert.deepEqual(
    encodeFlowMod(6, { command: "delete", match: { inPort: 4, tunnelId: 42 } }),
    hex(`
0000  04 0e 00 48 00 00 00 06 00 00 00 00 00 00 00 00
0010  00 00 00 00 00 00 00 00 ff 03 00 00 00 00 80 00
0020  ff ff ff ff ff ff ff ff ff ff ff ff 00 00 00 00
0030  00 01 00 18 80 00 00 04 00 00 00 04 80 00 4c 08
0040  00 00 00 00 00 00 00 2a`),
  );
  assert.deepEqual(
    encodeFlowMod(6, { command: "deleteStrict", priority: 100, match: { inPort: 1 } }),
    Buffer.concat([
      hex("04 0e 00 40 00 00 00 06"),
      Buffer.alloc(16),
      hex("ff 04 00 00 00 00 00 64"),
      Buffer.alloc(12, 0xff),
      Buffer.alloc(4),
      hex("00 01 00 0c 80 00 00 04 00 00 00 01 00 00 00 00"),
    ]),
  );
});

test("match and actions round-trip, with masks and every supported field kind", () => {
  const m: Match = {
    inPort: 7,
    ethDst: "02:00:00:00:00:01",
    ethType: 0x0800,
    vlanVid: 5,
    ipProto: 6,
    ipv4Src: "10.1.0.0/16",
    ipv4Dst: "10.2.3.4",
    tcpDst: 80,
    tunnelId: 9n,
  };
  const b = encodeMatch(m);
  assert.equal(b.length % 8, 0);
  assert.deepEqual(decodeMatch(b).match, m);
  const acts: Action[] = [
    { type: "pushVlan", ethertype: 0x8100 },
    { type: "setField", field: { vlanVid: 7 } },
    { type: "popVlan" },
    { type: "output", port: OFPP.LOCAL, maxLen: 0 },
    { type: "setField", field: { ethDst: "aa:bb:cc:dd:ee:ff" } },
  ];
  assert.deepEqual(decodeActions(Buffer.concat(acts.map(encodeAction))), acts);
  assert.throws(() => encodeMatch({ ipv4Dst: "10.0.0.300" }), /ipv4Dst: "10.0.0.300"/);
  assert.throws(() => encodeMatch({ vlanVid: 5000 }), /vlanVid: 5000/);
  assert.throws(() => encodeAction({ type: "setField", field: { inPort: 1, ethType: 2 } }), /exactly one field/);
});

test("PORT_STATS request and reply vector; ERROR and names", () => {
  assert.deepEqual(
    encodePortStatsRequest(0x55, 3),
    hex("04 12 00 18 00 00 00 55 00 04 00 00 00 00 00 00 00 00 00 03 00 00 00 00"),
  );
  const reply = hex(`
0000  04 13 00 80 00 00 00 55 00 04 00 00 00 00 00 00
0010  00 00 00 03 00 00 00 00 00 00 00 00 00 00 00 0b
0020  00 00 00 00 00 00 00 0f 00 00 00 00 00 00 03 62
0030  00 00 00 00 00 00 03 84 00 00 00 00 00 00 00 00
0040  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0050  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0060  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0070  00 00 00 00 00 00 00 00 00 00 00 ed 2b ed ba 40`);
  const [s] = decodePortStats(reply.subarray(16));
  assert.equal(s!.portNo, 3);
  assert.equal(s!.rxPackets, 11);
  assert.equal(s!.txPackets, 15);
  assert.equal(s!.rxBytes, 866);
  assert.equal(s!.txBytes, 900);
  assert.equal(s!.durationSec, 237);
  assert.equal(s!.durationNsec, 737000000);
  const e = decodeError(hex("04 01 00 14 00 00 00 85 00 02 00 01 04 0e 00 50 00 00 00 85"));
  assert.deepEqual([e.type, e.code], [2, 1]);
  assert.deepEqual(errorNames(2, 1), ["BAD_ACTION", "BAD_LEN"]);
  assert.deepEqual(errorNames(5, 2), ["FLOW_MOD_FAILED", "BAD_TABLE_ID"]);
  assert.deepEqual(errorNames(4, 9), ["BAD_MATCH", "BAD_PREREQ"]);
  assert.deepEqual(errorNames(99, 1), ["type 99", "code 1"]);
});

test("flow stats entries decode (built from our own encoder's match and instructions)", () => {
  const fm = encodeFlowMod(1, {
    command: "add",
    priority: 100,
    match: { inPort: 1 },
    actions: [{ type: "output", port: 2 }],
  });
  const matchAndInst = fm.subarray(48);
  const e = Buffer.alloc(48 + matchAndInst.length);
  e.writeUInt16BE(e.length, 0);
  e.writeUInt8(0, 2);
  e.writeUInt32BE(5, 4);
  e.writeUInt16BE(100, 12);
  e.writeBigUInt64BE(3n, 32);
  e.writeBigUInt64BE(294n, 40);
  matchAndInst.copy(e, 48);
  const [f] = decodeFlowStats(Buffer.concat([e, e]).subarray(0, e.length));
  assert.deepEqual(f!.match, { inPort: 1 });
  assert.deepEqual(f!.actions, [{ type: "output", port: 2, maxLen: 0 }]);
  assert.equal(f!.priority, 100);
  assert.equal(f!.packetCount, 3n);
  assert.equal(f!.byteCount, 294n);
});

test("xconnect flows: local/remote, with and without VLAN, as sdk-ovs installs them; bad ports refused", () => {
  const enc = (fms: ReturnType<typeof xconnectFlows>) => fms.map((f) => encodeFlowMod(6, f).toString("hex"));
  assert.deepEqual(enc(xconnectFlows({ kind: "local", e: 1, c: 3, vlan: 100 })), [
    encodeFlowMod(6, {
      command: "add",
      priority: 100,
      match: { inPort: 1, vlanVid: 100 },
      actions: [{ type: "popVlan" }, { type: "output", port: 3 }],
    }).toString("hex"),
    encodeFlowMod(6, {
      command: "add",
      priority: 100,
      match: { inPort: 3 },
      actions: [{ type: "pushVlan" }, { type: "setField", field: { vlanVid: 100 } }, { type: "output", port: 1 }],
    }).toString("hex"),
  ]);
  const remote = xconnectFlows({ kind: "remote", l: 1, t: 4, vni: 42 });
  assert.deepEqual(remote[0]!.actions, [
    { type: "setField", field: { tunnelId: 42n } },
    { type: "output", port: 4 },
  ]);
  assert.deepEqual(remote[1]!.match, { inPort: 4, tunnelId: 42n });
  assert.deepEqual(xconnectDeletes({ kind: "remote", l: 1, t: 4, vni: 42 })[1], {
    command: "delete",
    match: { inPort: 4, tunnelId: 42n },
  });
  assert.throws(() => xconnectFlows({ kind: "local", e: 0, c: 3 }), /E ofport 0/);
  assert.throws(() => xconnectFlows({ kind: "local", e: 1, c: 2, vlan: 4096 }), /vlan 4096/);
});
