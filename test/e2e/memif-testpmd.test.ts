// memif interop with DPDK's net_memif (dpdk-testpmd 22.11) in both roles, and a peer killed
// mid-traffic. Root only (DPDK EAL). Each testpmd gets `-l 0,1` (main lcore 0, one forwarding
// lcore) and is stopped with SIGINT, then SIGKILL; its /var/run/dpdk/<prefix> is removed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nativeAvailable } from "../../src/native.js";
import { MemifPort, type MemifOptions } from "../../src/datapath/memif.js";
import { Testpmd, testpmdAvailable, type TestpmdOptions } from "../helpers/testpmd.js";

const root = process.getuid?.() === 0;
const skip = !nativeAvailable()
  ? "addon not built"
  : !root
    ? "needs root (DPDK)"
    : !testpmdAvailable()
      ? "dpdk-testpmd not installed"
      : false;

const fdCount = (): number => readdirSync("/proc/self/fd").length;
const memifMaps = (): number =>
  readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((l) => l.includes("memif")).length;
async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return pred();
}

/** Temp dir + LIFO cleanup for ports and testpmd instances (runs after failures too). */
function sandbox(t: { after(f: () => Promise<void> | void): void }) {
  const dir = mkdtempSync(join(tmpdir(), "memif-pmd-"));
  const steps: (() => Promise<void> | void)[] = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const f of steps.reverse()) {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    }
    rmSync(dir, { recursive: true, force: true });
    if (errors.length) throw new AggregateError(errors, "cleanup failed");
  });
  return {
    sock: join(dir, "memif.sock"),
    open(o: MemifOptions): MemifPort {
      const p = MemifPort.open(o);
      steps.push(() => p.close());
      return p;
    },
    async testpmd(o: TestpmdOptions): Promise<Testpmd> {
      const pmd = await Testpmd.start(o);
      steps.push(() => pmd.stop());
      return pmd;
    },
  };
}

/** Sends `count` copies of `frame`, waiting for ring space; returns when all went out. */
async function sendAll(port: MemifPort, frame: Buffer, count: number, timeoutMs = 10_000): Promise<void> {
  let sent = 0;
  const deadline = Date.now() + timeoutMs;
  while (sent < count) {
    sent += port.send(Array(Math.min(256, count - sent)).fill(frame));
    if (Date.now() > deadline) throw new Error(`sent only ${sent}/${count}`);
    if (sent < count) await new Promise((r) => setTimeout(r, 1));
  }
}

const udpFrame = (len: number): Buffer => {
  const f = Buffer.alloc(len, 0x5a);
  Buffer.from("02000000000202000000000108004500", "hex").copy(f, 0);
  return f;
};

test(
  "testpmd client (txonly) -> our server: we receive its frames, it counts them sent",
  { skip, timeout: 60_000 },
  async (t) => {
    const sb = sandbox(t);
    const srv = sb.open({ role: "server", socket: sb.sock });
    const pmd = await sb.testpmd({ role: "client", socket: sb.sock, forwardMode: "txonly" });
    const link = await srv.waitUp({ timeoutMs: 10_000 });
    assert.match(link.peerName, /^DPDK /);
    assert.equal(link.peerIfName, "net_memif0");
    const got = await srv.receive(2000, { timeoutMs: 10_000 });
    assert.equal(got.length, 2000);
    for (const f of got.slice(0, 10)) {
      assert.equal(f.length, 64);
      assert.equal(f.readUInt16BE(12), 0x0800); // testpmd txonly: IPv4/UDP
    }
    const s = await pmd.portStats();
    assert.ok(s.txPackets >= 2000, `testpmd sent ${s.txPackets}`);
    assert.ok(srv.stats().rxPackets >= 2000);
  },
);

test(
  "our server -> testpmd client (rxonly): testpmd counts exactly what we sent",
  { skip, timeout: 60_000 },
  async (t) => {
    const sb = sandbox(t);
    const srv = sb.open({ role: "server", socket: sb.sock });
    const pmd = await sb.testpmd({ role: "client", socket: sb.sock, forwardMode: "rxonly" });
    await srv.waitUp({ timeoutMs: 10_000 });
    await sendAll(srv, udpFrame(128), 5000);
    const s = await pmd.waitStats((x) => x.rxPackets >= 5000);
    assert.equal(s.rxPackets, 5000);
    assert.equal(s.rxBytes, 5000 * 128);
    assert.equal(srv.stats().txPackets, 5000);
  },
);

test(
  "our client -> testpmd server (rxonly): testpmd counts exactly what we sent, 64 and 1500 B",
  { skip, timeout: 60_000 },
  async (t) => {
    const sb = sandbox(t);
    const pmd = await sb.testpmd({ role: "server", socket: sb.sock, forwardMode: "rxonly" });
    const cli = sb.open({ role: "client", socket: sb.sock, reconnectMs: 100 });
    const link = await cli.waitUp({ timeoutMs: 10_000 });
    assert.match(link.peerName, /^DPDK /);
    await sendAll(cli, udpFrame(64), 3000);
    await sendAll(cli, udpFrame(1500), 1000);
    const s = await pmd.waitStats((x) => x.rxPackets >= 4000);
    assert.equal(s.rxPackets, 4000);
    assert.equal(s.rxBytes, 3000 * 64 + 1000 * 1500);
  },
);

test("testpmd server (txonly) -> our client: we receive its frames", { skip, timeout: 60_000 }, async (t) => {
  const sb = sandbox(t);
  const pmd = await sb.testpmd({ role: "server", socket: sb.sock, forwardMode: "txonly", txPktLen: 256 });
  const cli = sb.open({ role: "client", socket: sb.sock, reconnectMs: 100 });
  await cli.waitUp({ timeoutMs: 10_000 });
  const got = await cli.receive(2000, { timeoutMs: 10_000 });
  assert.ok(
    got.every((f) => f.length === 256),
    `lengths ${[...new Set(got.map((f) => f.length))].join(",")}`,
  );
  assert.ok((await pmd.portStats()).txPackets >= 2000);
});

test(
  "server: testpmd killed mid-traffic -> link down, no leak, a new testpmd client gets up",
  { skip, timeout: 90_000 },
  async (t) => {
    const sb = sandbox(t);
    const fds0 = fdCount();
    const srv = sb.open({ role: "server", socket: sb.sock });
    const fds1 = fdCount();
    const pmd = await Testpmd.start({ role: "client", socket: sb.sock, forwardMode: "txonly" });
    try {
      await srv.waitUp({ timeoutMs: 10_000 });
      await srv.receive(500, { timeoutMs: 10_000 });
      assert.ok(memifMaps() > 0, "the client's region is mapped while up");
      const down = srv.waitDown({ timeoutMs: 10_000 });
      await pmd.kill();
      assert.match(await down, /peer closed/);
    } finally {
      await pmd.stop();
    }
    assert.equal(memifMaps(), 0, "region unmapped");
    assert.ok(await until(() => fdCount() <= fds1, 3000), `fds ${fdCount()} vs ${fds1} before the peer came`);

    const pmd2 = await sb.testpmd({ role: "client", socket: sb.sock, forwardMode: "txonly" });
    await srv.waitUp({ timeoutMs: 10_000 });
    assert.equal((await srv.receive(500, { timeoutMs: 10_000 })).length, 500);
    assert.equal(srv.stats().connects, 2);
    await pmd2.stop();
    srv.close();
    assert.ok(await until(() => fdCount() <= fds0, 3000), `fds ${fdCount()} vs ${fds0} before open`);
    assert.equal(existsSync(sb.sock), false, "socket file removed on close");
  },
);

test(
  "client: testpmd server killed mid-traffic -> link down, the client reconnects to a new one",
  { skip, timeout: 90_000 },
  async (t) => {
    const sb = sandbox(t);
    const pmd = await Testpmd.start({ role: "server", socket: sb.sock, forwardMode: "rxonly" });
    const cli = sb.open({ role: "client", socket: sb.sock, reconnectMs: 100 });
    const fds1 = fdCount();
    try {
      await cli.waitUp({ timeoutMs: 10_000 });
      await sendAll(cli, udpFrame(64), 1000);
      await pmd.waitStats((x) => x.rxPackets >= 1000);
      const down = cli.waitDown({ timeoutMs: 10_000 });
      await pmd.kill();
      assert.match(await down, /peer closed/);
    } finally {
      await pmd.stop();
    }
    assert.equal(memifMaps(), 0, "our region unmapped");
    assert.ok(await until(() => fdCount() <= fds1, 3000), `fds ${fdCount()} vs ${fds1} while up`);
    assert.equal(cli.send([udpFrame(64)]), 0, "nothing is sent while down");
    rmSync(sb.sock, { force: true }); // a killed DPDK server leaves its socket file; DPDK won't bind over it
    const pmd2 = await sb.testpmd({ role: "server", socket: sb.sock, forwardMode: "rxonly" });
    await cli.waitUp({ timeoutMs: 10_000 });
    await sendAll(cli, udpFrame(64), 500);
    assert.equal((await pmd2.waitStats((x) => x.rxPackets >= 500)).rxPackets, 500);
    assert.equal(cli.stats().connects, 2);
  },
);
