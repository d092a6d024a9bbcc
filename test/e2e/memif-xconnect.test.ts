// memif without DPDK, native cross-connects (memif<->memif, AF_PACKET, tap). Unix sockets and
// memfds need no root; the veth/tap cases do (they skip otherwise).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { joinPorts, MemifPort, PacketPort } from "../../src/datapath/memif.js";
import { sandbox, skip, skipRoot, uniq } from "../helpers/memif-sandbox.js";

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
    // the loop takes b's new rings a moment after b reports up (it polls the port's state): a
    // frame it reads from a before that is dropped and counted, so send until one crosses
    let got: Buffer[] = [];
    for (const end = Date.now() + 10_000; !got.length && Date.now() < end;) {
      a.send([Buffer.alloc(80, 5)]);
      got = await b.receive(1, { timeoutMs: 250, partial: true });
    }
    assert.deepEqual(got, [Buffer.alloc(80, 5)]);
    const st = xc.stop();
    assert.ok(st.aToB >= 51, `aToB ${st.aToB}`);
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
