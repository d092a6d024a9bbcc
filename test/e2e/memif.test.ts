// memif without DPDK: our server <-> our client in-process, reconnects, leaks, bad control
// messages from a hand-crafted peer, and native cross-connects (memif<->memif, AF_PACKET, tap).
// Unix sockets and memfds need no root; the veth/tap cases do (they skip otherwise).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nativeAvailable } from "../../src/native.js";
import { joinPorts, MemifPort, PacketPort, type MemifOptions } from "../../src/datapath/memif.js";
import { rawPeer, testPeersAvailable } from "../helpers/raw-peer.js";

const root = process.getuid?.() === 0;
const skip = !nativeAvailable() ? "addon not built (npm run build:native)" : false;
const skipRaw = skip || (!testPeersAvailable() && "test peers not built (npm run build:native with cmake-js)");
const skipRoot = skip || (!root && "needs root (netns, AF_PACKET, tap)");

let n = 0;
const uniq = (): string => `t-${process.pid}-${n++}`;

/** A temp dir for sockets, removed after the test; ports opened through it are closed first. */
function sandbox(t: { after(f: () => void): void }): { sock(name?: string): string; open(o: MemifOptions): MemifPort } {
  const dir = mkdtempSync(join(tmpdir(), "memif-"));
  const ports: MemifPort[] = [];
  t.after(() => {
    for (const p of ports.reverse()) p.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    sock: (name = "memif.sock") => join(dir, name),
    open(o) {
      const p = MemifPort.open(o);
      ports.push(p);
      return p;
    },
  };
}

async function until(pred: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

const fdCount = (): number => readdirSync("/proc/self/fd").length;
const memifMaps = (): number =>
  readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((l) => l.includes("memif")).length;

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
  "memif server and client in one process: link info, both directions, chained frames, stats",
  { skip, timeout: 20_000 },
  async (t) => {
    const sb = sandbox(t);
    const sock = sb.sock();
    const srv = sb.open({ role: "server", socket: sock, ifName: "srv0", name: "nsm-srv" });
    const cli = sb.open({
      role: "client",
      socket: sock,
      ifName: "cli0",
      name: "nsm-cli",
      ringSize: 256,
      bufferSize: 2048,
      reconnectMs: 50,
    });
    const [ls, lc] = await Promise.all([srv.waitUp(), cli.waitUp()]);
    assert.deepEqual(ls, { peerName: "nsm-cli", peerIfName: "cli0", ringSize: 256, bufferSize: 2048, regions: 1 });
    assert.deepEqual(lc, { peerName: "nsm-srv", peerIfName: "srv0", ringSize: 256, bufferSize: 2048, regions: 1 });

    const frames = Array.from({ length: 100 }, (_, i) => Buffer.alloc(60 + i * 20, i));
    frames.push(Buffer.alloc(9000, 0xab)); // 5 descriptors chained with NEXT
    assert.equal(cli.send(frames), frames.length);
    const atSrv = await srv.receive(frames.length, { timeoutMs: 3000 });
    assert.deepEqual(
      atSrv.map((b) => b.toString("hex")),
      frames.map((b) => b.toString("hex")),
    );
    assert.equal(srv.send(frames), frames.length);
    const atCli = await cli.receive(frames.length, { timeoutMs: 3000 });
    assert.deepEqual(
      atCli.map((b) => b.toString("hex")),
      frames.map((b) => b.toString("hex")),
    );

    const bytes = frames.reduce((s, f) => s + f.length, 0);
    const ss = srv.stats(),
      cs = cli.stats();
    assert.equal(ss.rxPackets, frames.length);
    assert.equal(ss.rxBytes, bytes);
    assert.equal(cs.txPackets, frames.length);
    assert.equal(cs.rxBytes, bytes);
    assert.equal(ss.connects, 1);
    assert.equal(ss.rxErrors, 0);
  },
);

test("ring full: send returns what fit and counts the rest as drops", { skip, timeout: 20_000 }, async (t) => {
  const sb = sandbox(t);
  const sock = sb.sock();
  const srv = sb.open({ role: "server", socket: sock });
  const cli = sb.open({ role: "client", socket: sock, ringSize: 16, reconnectMs: 50 });
  await Promise.all([srv.waitUp(), cli.waitUp()]);
  const sent = cli.send(Array.from({ length: 40 }, () => Buffer.alloc(64)));
  assert.equal(sent, 16);
  assert.equal(cli.stats().txDrops, 24);
  assert.equal((await srv.receive(16)).length, 16);
  assert.equal(cli.send([Buffer.alloc(64)]), 1); // slots came back
});

test("polling mode on both sides moves packets without eventfd wakeups", { skip, timeout: 20_000 }, async (t) => {
  const sb = sandbox(t);
  const sock = sb.sock();
  const srv = sb.open({ role: "server", socket: sock, mode: "polling" });
  const cli = sb.open({ role: "client", socket: sock, mode: "polling", reconnectMs: 50 });
  await Promise.all([srv.waitUp(), cli.waitUp()]);
  let rxEvents = 0;
  srv.on("rx", () => rxEvents++);
  cli.send([Buffer.from("polled frame, 60 bytes long".padEnd(60, "."))]);
  const [got] = await srv.receive(1);
  assert.match(got!.toString(), /^polled frame/);
  assert.equal(rxEvents, 0);
});

test(
  "reconnect: the server accepts a new client, the client finds a new server",
  { skip, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const sock = sb.sock();
    const srv = sb.open({ role: "server", socket: sock });
    const cli1 = sb.open({ role: "client", socket: sock, reconnectMs: 50 });
    await srv.waitUp();
    const down = srv.waitDown();
    cli1.close();
    assert.match(await down, /peer disconnected: Device closed|peer closed/);
    const cli2 = sb.open({ role: "client", socket: sock, reconnectMs: 50 });
    await Promise.all([srv.waitUp(), cli2.waitUp()]);
    cli2.send([Buffer.alloc(64, 2)]);
    assert.equal((await srv.receive(1))[0]![0], 2);

    // Server goes away: the client goes down and keeps retrying until a new server listens.
    const cliDown = cli2.waitDown();
    srv.close();
    await cliDown;
    const srv2 = sb.open({ role: "server", socket: sock });
    await Promise.all([srv2.waitUp(), cli2.waitUp()]);
    srv2.send([Buffer.alloc(64, 3)]);
    assert.equal((await cli2.receive(1))[0]![0], 3);
    assert.equal(cli2.stats().connects, 2);
    assert.equal(cli2.stats().disconnects, 1);
  },
);

test(
  "close is idempotent and open/up/traffic/close cycles leak no fd and no mapping",
  { skip, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const cycle = async (i: number): Promise<void> => {
      const sock = sb.sock(`leak-${i}.sock`);
      const srv = MemifPort.open({ role: "server", socket: sock });
      const cli = MemifPort.open({ role: "client", socket: sock, reconnectMs: 20 });
      try {
        await Promise.all([srv.waitUp(), cli.waitUp()]);
        cli.send([Buffer.alloc(1500)]);
        await srv.receive(1);
        const x = joinPorts(srv, PacketPort.null());
        x.stop();
        x.stop();
      } finally {
        cli.close();
        cli.close();
        srv.close();
        srv.close();
      }
      assert.throws(() => srv.send([Buffer.alloc(1)]), { code: "EBADF" });
    };
    await cycle(0); // warm-up: libuv/thread-pool fds opened once
    const fds = fdCount(),
      maps = memifMaps();
    assert.equal(maps, 0);
    for (let i = 1; i <= 5; i++) await cycle(i);
    assert.equal(fdCount(), fds, "fd count after 5 cycles");
    assert.equal(memifMaps(), 0, "memif mappings left");
    assert.deepEqual(
      readdirSync(join(sb.sock(), "..")).filter((f) => f.endsWith(".sock")),
      [],
      "socket files left",
    );
  },
);

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

test(
  "cross-connect memif<->memif forwards both ways natively and follows a reconnect",
  { skip, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const s1 = sb.sock("a.sock"),
      s2 = sb.sock("b.sock");
    const fa = sb.open({ role: "server", socket: s1 }),
      fb = sb.open({ role: "server", socket: s2 });
    const a = sb.open({ role: "client", socket: s1, reconnectMs: 50 });
    let b = sb.open({ role: "client", socket: s2, reconnectMs: 50 });
    const xc = joinPorts(fa, fb);
    t.after(() => xc.stop());
    await Promise.all([a.waitUp(), b.waitUp()]);
    assert.throws(() => fa.send([Buffer.alloc(64)]), { code: "EBUSY" });
    const frames = Array.from({ length: 50 }, (_, i) => Buffer.alloc(64 + i, i));
    a.send(frames);
    assert.deepEqual(
      (await b.receive(50)).map((f) => f.length),
      frames.map((f) => f.length),
    );
    b.send([Buffer.alloc(3000, 9)]);
    assert.deepEqual(await a.receive(1), [Buffer.alloc(3000, 9)]);
    // b's peer restarts: the loop picks up the new rings.
    b.close();
    b = sb.open({ role: "client", socket: s2, reconnectMs: 50 });
    await b.waitUp();
    a.send([Buffer.alloc(80, 5)]);
    assert.deepEqual(await b.receive(1), [Buffer.alloc(80, 5)]);
    const st = xc.stop();
    assert.equal(st.aToB, 51);
    assert.equal(st.bToA, 1);
    fa.send([Buffer.alloc(64)]); // JS may use the port again
  },
);

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8" });
}

test(
  "cross-connect memif<->AF_PACKET over a veth pair in a fresh netns",
  { skip: skipRoot, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const ns = uniq();
    ip("netns", "add", ns);
    t.after(() => ip("netns", "del", ns));
    ip("-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb");
    execFileSync("ip", ["netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    ip("-n", ns, "link", "set", "va", "up");
    ip("-n", ns, "link", "set", "vb", "up");
    const pa = PacketPort.afPacket("va", { netns: `/run/netns/${ns}` });
    const pb = PacketPort.afPacket("vb", { netns: `/run/netns/${ns}` });
    t.after(() => {
      pa.close();
      pb.close();
    });
    const s1 = sb.sock("a.sock"),
      s2 = sb.sock("b.sock");
    const fa = sb.open({ role: "server", socket: s1 }),
      fb = sb.open({ role: "server", socket: s2 });
    const x1 = joinPorts(fa, pa),
      x2 = joinPorts(fb, pb);
    t.after(() => {
      x1.stop();
      x2.stop();
    });
    const a = sb.open({ role: "client", socket: s1, reconnectMs: 50 }),
      b = sb.open({ role: "client", socket: s2, reconnectMs: 50 });
    await Promise.all([a.waitUp(), b.waitUp()]);
    // Local experimental ethertype 0x88b5: nothing else on the veth uses it.
    const frame = (i: number): Buffer => {
      const f = Buffer.alloc(100, i);
      Buffer.from("020000000002020000000001", "hex").copy(f, 0);
      f.writeUInt16BE(0x88b5, 12);
      return f;
    };
    a.send(Array.from({ length: 20 }, (_, i) => frame(i)));
    const mine = async (p: MemifPort, count: number): Promise<Buffer[]> => {
      const out: Buffer[] = [];
      const deadline = Date.now() + 5000;
      while (out.length < count && Date.now() < deadline) {
        out.push(...(await p.receive(1, { timeoutMs: 5000 })).filter((f) => f.readUInt16BE(12) === 0x88b5));
      }
      return out;
    };
    assert.deepEqual(
      (await mine(b, 20)).map((f) => f[20]),
      Array.from({ length: 20 }, (_, i) => i),
    );
    b.send([frame(42)]);
    assert.equal((await mine(a, 1))[0]![20], 42);
    assert.ok(pa.stats().txPackets >= 20 && pb.stats().rxPackets >= 20);
  },
);

test(
  "cross-connect memif<->tap: the kernel answers an ARP request sent over memif",
  { skip: skipRoot, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const ns = uniq();
    ip("netns", "add", ns);
    t.after(() => ip("netns", "del", ns));
    const tap = PacketPort.tap("tap0", { netns: `/run/netns/${ns}` });
    t.after(() => tap.close());
    ip("-n", ns, "addr", "add", "10.77.0.1/24", "dev", "tap0");
    ip("-n", ns, "link", "set", "tap0", "up");
    const sock = sb.sock();
    const fwdSide = sb.open({ role: "server", socket: sock });
    const xc = joinPorts(fwdSide, tap);
    t.after(() => xc.stop());
    const nsc = sb.open({ role: "client", socket: sock, reconnectMs: 50 });
    await nsc.waitUp();
    const mac = Buffer.from("020000000077", "hex");
    const arp = Buffer.concat([
      Buffer.from("ffffffffffff", "hex"),
      mac,
      Buffer.from("0806", "hex"),
      Buffer.from("0001080006040001", "hex"),
      mac,
      Buffer.from([10, 77, 0, 2]),
      Buffer.alloc(6),
      Buffer.from([10, 77, 0, 1]),
      Buffer.alloc(18),
    ]);
    const deadline = Date.now() + 5000;
    let reply: Buffer | undefined;
    nsc.send([arp]);
    while (!reply && Date.now() < deadline) {
      for (const f of await nsc.receive(1, { timeoutMs: 5000 })) {
        if (f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 2) reply = f;
      }
    }
    assert.ok(reply, "no ARP reply");
    assert.deepEqual(reply.subarray(0, 6), mac);
    assert.deepEqual([...reply.subarray(28, 32)], [10, 77, 0, 1]);
  },
);
