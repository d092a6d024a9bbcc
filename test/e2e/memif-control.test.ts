// memif without DPDK, bad control messages from a hand-crafted peer: a server and a client
// refuse them with a reason and stay usable. Unix sockets and memfds need no root.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rawPeer } from "../helpers/raw-peer.js";
import { memifMaps, sandbox, skipRaw, until } from "../helpers/memif-sandbox.js";

// ---- control messages, byte by byte (upstream vpp/src/plugins/memif/memif.h; docs/memif.md) ----
function msg(type: number, fill: (b: Buffer) => void = () => {}): Buffer {
  const b = Buffer.alloc(128);
  b.writeUInt16LE(type, 0);
  fill(b);
  return b;
}
const INIT = (o: { version?: number; id?: number; mode?: number; secret?: string } = {}): Buffer =>
  msg(3, (b) => {
    b.writeUInt16LE(o.version ?? 0x0200, 2);
    b.writeUInt32LE(o.id ?? 0, 4);
    b.writeUInt8(o.mode ?? 0, 8);
    if (o.secret) b.write(o.secret, 9, 23);
    b.write("raw-peer", 33);
  });
const ADD_REGION = (index: number, size: bigint): Buffer =>
  msg(4, (b) => {
    b.writeUInt16LE(index, 2);
    b.writeBigUInt64LE(size, 4);
  });
const ADD_RING = (o: { s2m: boolean; index?: number; region?: number; offset?: number; log2?: number }): Buffer =>
  msg(5, (b) => {
    b.writeUInt16LE(o.s2m ? 1 : 0, 2);
    b.writeUInt16LE(o.index ?? 0, 4);
    b.writeUInt16LE(o.region ?? 0, 6);
    b.writeUInt32LE(o.offset ?? 0, 8);
    b.writeUInt8(o.log2 ?? 4, 12);
  });
const CONNECT = msg(6, (b) => b.write("raw0", 2));
const HELLO = (o: { min?: number; max?: number } = {}): Buffer =>
  msg(2, (b) => {
    b.write("raw-master", 2);
    b.writeUInt16LE(o.min ?? 0x0200, 34);
    b.writeUInt16LE(o.max ?? 0x0200, 36);
    b.writeUInt16LE(255, 38);
    b.writeUInt16LE(255, 40);
    b.writeUInt16LE(255, 42);
    b.writeUInt8(14, 44);
  });
const typeOf = (b: Buffer): number => b.readUInt16LE(0);
const reasonOf = (b: Buffer): string => b.subarray(6, 102).toString("utf8").replace(/\0.*$/s, "");

test(
  "a server refuses bad control messages with a DISCONNECT reason and stays usable",
  { skip: skipRaw, timeout: 60_000 },
  async (t) => {
    const sb = sandbox(t);
    const sock = sb.sock();
    const srv = sb.open({ role: "server", socket: sock, id: 7, secret: "s3cret", handshakeTimeoutMs: 500 });
    const fails: string[] = [];
    srv.on("fail", (r) => fails.push(r));
    const init = INIT({ id: 7, secret: "s3cret" });
    const ringBytes = 128 + 16 * 16; // log2 4
    type Step = Parameters<typeof rawPeer>[0]["steps"][number];
    const ok = (m: Buffer, fd?: "memfd" | "eventfd", memfdSize?: number): Step => ({
      send: m,
      recv: 1,
      ...(fd ? { fd } : {}),
      ...(memfdSize ? { memfdSize } : {}),
    });
    const cases: [string, Step[], string][] = [
      ["first message not INIT", [ok(ADD_REGION(0, 4096n), "memfd")], "Unexpected message"],
      ["short message", [{ send: Buffer.alloc(64, 3), recv: 1 }], "Invalid message size"],
      ["long message", [{ send: Buffer.concat([init, Buffer.alloc(16)]), recv: 1 }], "Invalid message size"],
      ["wrong version", [ok(INIT({ version: 0x0100, id: 7, secret: "s3cret" }))], "Incompatible memif version"],
      ["unknown id", [ok(INIT({ id: 8, secret: "s3cret" }))], "ID not found"],
      ["ip mode", [ok(INIT({ id: 7, mode: 1, secret: "s3cret" }))], "Only ethernet mode supported"],
      ["no secret", [ok(INIT({ id: 7 }))], "Secret required"],
      ["wrong secret", [ok(INIT({ id: 7, secret: "nope" }))], "Incorrect secret"],
      ["unknown type", [ok(init), ok(msg(99))], "Unknown message type"],
      ["INIT twice", [ok(init), ok(init)], "Unexpected message"],
      ["region without fd", [ok(init), ok(ADD_REGION(0, 4096n))], "Missing region fd"],
      ["region index gap", [ok(init), ok(ADD_REGION(1, 4096n), "memfd")], "Invalid region index"],
      ["region size 0", [ok(init), ok(ADD_REGION(0, 0n), "memfd")], "Invalid region size"],
      ["region size huge", [ok(init), ok(ADD_REGION(0, 1n << 40n), "memfd")], "Invalid region size"],
      [
        "region larger than its memfd",
        [ok(init), ok(ADD_REGION(0, 1n << 20n), "memfd", 4096)],
        "Region size exceeds its fd",
      ],
      [
        "ring without fd",
        [ok(init), ok(ADD_REGION(0, 4096n), "memfd"), ok(ADD_RING({ s2m: true }))],
        "Missing interrupt fd",
      ],
      [
        "ring in a missing region",
        [ok(init), ok(ADD_REGION(0, 4096n), "memfd"), ok(ADD_RING({ s2m: true, region: 1 }), "eventfd")],
        "Invalid ring region",
      ],
      [
        "ring index 1 first",
        [ok(init), ok(ADD_REGION(0, 4096n), "memfd"), ok(ADD_RING({ s2m: true, index: 1 }), "eventfd")],
        "Invalid ring index",
      ],
      [
        "ring too big",
        [ok(init), ok(ADD_REGION(0, 4096n), "memfd"), ok(ADD_RING({ s2m: true, log2: 15 }), "eventfd")],
        "Invalid ring size",
      ],
      [
        "ring outside region",
        [ok(init), ok(ADD_REGION(0, 4096n), "memfd"), ok(ADD_RING({ s2m: true, offset: 4000 }), "eventfd")],
        "Ring outside its region",
      ],
      ["CONNECT without rings", [ok(init), ok(ADD_REGION(0, 4096n), "memfd"), ok(CONNECT)], "Missing regions or rings"],
      [
        "rings without cookie",
        [
          ok(init),
          ok(ADD_REGION(0, 4096n), "memfd"),
          ok(ADD_RING({ s2m: true }), "eventfd"),
          ok(ADD_RING({ s2m: false, offset: ringBytes }), "eventfd"),
          ok(CONNECT),
        ],
        "Wrong ring cookie",
      ],
      ["silent peer", [{ waitClose: true }], "Handshake timeout"],
    ];
    for (const [name, steps, reason] of cases) {
      const r = await rawPeer({
        socket: sock,
        role: "client",
        steps: [{ recv: 1 }, ...steps, { waitClose: true }],
        timeoutMs: 3000,
      });
      assert.equal(typeOf(r.received[0]!), 2, `${name}: first message is HELLO`);
      const last = r.received.at(-1)!;
      assert.equal(typeOf(last), 8, `${name}: ends with DISCONNECT, got ${r.received.map(typeOf).join(",")}`);
      assert.equal(reasonOf(last), reason, name);
      assert.equal(r.closed, true, `${name}: socket closed`);
      // Every message before the DISCONNECT was an ACK (after the HELLO).
      assert.ok(
        r.received.slice(1, -1).every((m) => typeOf(m) === 1),
        name,
      );
    }
    await until(() => fails.length === cases.length, 2000); // events arrive through the event loop
    assert.deepEqual(
      fails,
      cases.map(([, , reason]) => reason),
    );
    assert.equal(memifMaps(), 0);

    // Still serving: a real client with the right id and secret gets up.
    const cli = sb.open({ role: "client", socket: sock, id: 7, secret: "s3cret", reconnectMs: 50 });
    await Promise.all([srv.waitUp(), cli.waitUp()]);
    // A second client while one is connected is turned away.
    const second = await rawPeer({
      socket: sock,
      role: "client",
      steps: [{ recv: 1 }, { waitClose: true }],
      timeoutMs: 3000,
    });
    assert.equal(reasonOf(second.received[0]!), "Already connected");
    assert.equal(srv.up, true);
  },
);

test(
  "a client refuses a bad HELLO or an out-of-order reply with a reason",
  { skip: skipRaw, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const cases: [string, Buffer, string][] = [
      ["wrong version range", HELLO({ min: 0x0300, max: 0x0300 }), "Incompatible memif version"],
      ["ACK instead of HELLO", msg(1), "Unexpected message"],
      ["short HELLO", HELLO().subarray(0, 100), "Invalid message size"],
    ];
    for (const [i, [name, first, reason]] of cases.entries()) {
      const sock = sb.sock(`c${i}.sock`);
      const peer = rawPeer({
        socket: sock,
        role: "server",
        steps: [{ send: first, recv: 1 }, { waitClose: true }],
        timeoutMs: 5000,
      });
      const cli = sb.open({ role: "client", socket: sock, reconnectMs: 20 });
      const fail = new Promise<string>((resolve) => cli.once("fail", resolve));
      const r = await peer;
      assert.equal(typeOf(r.received[0]!), 8, name);
      assert.equal(reasonOf(r.received[0]!), reason, name);
      assert.equal(await fail, reason, name);
      cli.close();
    }
    // After HELLO the client sends INIT; an ACK-less reply (CONNECTED) is out of order.
    const sock = sb.sock("order.sock");
    const peer = rawPeer({
      socket: sock,
      role: "server",
      steps: [{ send: HELLO(), recv: 1 }, { send: msg(7), recv: 1 }, { waitClose: true }],
      timeoutMs: 5000,
    });
    const cli = sb.open({ role: "client", socket: sock, reconnectMs: 20 });
    const r = await peer;
    assert.deepEqual(r.received.map(typeOf), [3, 8]);
    assert.equal(r.received[0]!.readUInt16LE(2), 0x0200);
    assert.equal(reasonOf(r.received[1]!), "Unexpected message");
    cli.close();
    assert.equal(memifMaps(), 0);
  },
);
