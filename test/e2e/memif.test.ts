// memif without DPDK: our server <-> our client in-process, reconnects, leaks. Hand-crafted control
// messages are in memif-control.test.ts, cross-connects in memif-xconnect.test.ts. Unix sockets
// and memfds need no root.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { joinPorts, MemifPort, PacketPort } from "../../src/datapath/memif.js";
import { fdCount, memifMaps, sandbox, skip } from "../helpers/memif-sandbox.js";

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
