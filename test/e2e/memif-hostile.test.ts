// A hostile memif peer, in a separate process (native/test/memif_hostile.cc), against our memif
// server and client roles and a native cross-connect: every attack ends with a disconnect that
// names the reason (seen by the peer and reported by our port), the violation is counted, other
// connections keep working, and fd and mapping counts return to their baseline. No root needed.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nativeAvailable } from "../../src/native.js";
import { joinPorts, MemifPort, PacketPort } from "../../src/datapath/memif.js";
import { hostilePeer, testPeersAvailable, type HostilePeer } from "../helpers/raw-peer.js";

const skip =
  !nativeAvailable() || !testPeersAvailable() ? "addon or test peers not built (npm run build:native)" : false;

const fdCount = (): number => readdirSync("/proc/self/fd").length;
const memfdMaps = (): number =>
  readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((l) => l.includes("memfd:")).length;

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return pred();
}

/** A bystander: a healthy server/client pair that must keep moving packets during every attack. */
function bystander(dir: string): { check(): Promise<void>; close(): void } {
  const sock = join(dir, "ok.sock");
  const srv = MemifPort.open({ role: "server", socket: sock });
  const cli = MemifPort.open({ role: "client", socket: sock, reconnectMs: 20 });
  return {
    async check() {
      await Promise.all([srv.waitUp({ timeoutMs: 3000 }), cli.waitUp({ timeoutMs: 3000 })]);
      assert.equal(cli.send([Buffer.alloc(64, 7)]), 1);
      const got = await srv.receive(1, { timeoutMs: 2000 });
      assert.equal(got[0]?.length, 64);
    },
    close() {
      cli.close();
      srv.close();
    },
  };
}

// The first child process makes libuv open its SIGCHLD pipe for good: do that before any baseline.
before(async () => {
  if (!skip) await hostilePeer("/nonexistent", "slave", "none", 100).done;
});

interface Attack {
  name: string;
  /** What our side must say, to the peer and in its own "down"/"fail" reason. */
  reason: RegExp;
  /** Which counter must count it. */
  counter?: "rxErrors" | "txErrors";
  /** Our port's ring size (client role: the attacker uses ours). */
  ringSize?: number;
  /** Drive our data path after the attack is in place: recv (rx attacks) or send (tx attacks). */
  drive?: "recv" | "send";
}

const serverAttacks: Attack[] = [
  { name: "huge-region", reason: /^Invalid region size$/ },
  { name: "unsealed-region", reason: /^Region fd cannot be sealed/ },
  { name: "region-flood", reason: /^Regions too large$/ },
  { name: "message-flood", reason: /^Unexpected message$/ },
  { name: "wrap-length", reason: /^Packet longer than 1 MiB$/, counter: "rxErrors", drive: "recv" },
  { name: "out-of-region", reason: /^Descriptor outside its region$/, counter: "rxErrors", drive: "recv" },
  { name: "bad-region-index", reason: /^Descriptor outside its region$/, counter: "rxErrors", drive: "recv" },
  { name: "endless-chain", reason: /^Descriptor chain never ends$/, counter: "rxErrors", drive: "recv" },
  { name: "long-chain", reason: /^Descriptor chain longer than 256$/, counter: "rxErrors", drive: "recv" },
  { name: "ring-index", reason: /^Ring index out of range$/, counter: "rxErrors", drive: "recv" },
  { name: "tx-bad-buffer", reason: /^Descriptor outside its region$/, counter: "txErrors", drive: "send" },
];

const clientAttacks: Attack[] = [
  { name: "message-flood", reason: /^Unexpected message$/ },
  { name: "ring-index", reason: /^Ring index out of range$/, counter: "rxErrors", drive: "recv" },
  { name: "long-desc", reason: /^Descriptor longer than its buffer$/, counter: "rxErrors", drive: "recv" },
  { name: "endless-chain", reason: /^Descriptor chain never ends$/, counter: "rxErrors", ringSize: 64, drive: "recv" },
  { name: "tx-ring-index", reason: /^Ring index out of range$/, counter: "txErrors", drive: "send" },
];

/**
 * Runs one attack by the peer `start` gives against `port` and checks the verdict on both sides.
 * The baseline counters are read before the peer starts: a fast attack (message-flood) can end
 * in a disconnect before this function's next statement on a loaded machine.
 */
async function attackOnce(port: MemifPort, start: () => HostilePeer, a: Attack, xc = false) {
  const reasons: string[] = [];
  port.on("down", (r: string) => reasons.push(r));
  port.on("fail", (r: string) => reasons.push(r));
  const before = port.stats();
  const peer = start();
  try {
    await peer.ready;
    if (a.drive === "recv" && !xc) {
      await until(() => (port.info().up && port.recv(64).length < 0) || reasons.length > 0, 3000);
    } else if (a.drive === "send" && !xc) {
      await until(() => port.info().up || reasons.length > 0, 3000);
      await until(() => (port.info().up && port.send([Buffer.alloc(100, 1)]) < 0) || reasons.length > 0, 3000);
    }
    const { verdict, stderr } = await peer.done;
    assert.equal(stderr, "");
    const m = /^reason: (.*)$/.exec(verdict);
    assert.ok(m, `peer ${a.name}: no DISCONNECT from us (it saw "${verdict}")`);
    assert.match(m[1]!, a.reason);
    await until(() => reasons.length > 0, 5000);
    assert.match(reasons[0] ?? "", a.reason, `our port's reason for ${a.name}`);
    // a cross-connect's loop thread may publish its counter just after the port reports the reason
    const counter = a.counter;
    if (counter) await until(() => port.stats()[counter] > before[counter], 2000);
    const after = port.stats();
    assert.equal(after.peerErrors, before.peerErrors + 1, `${a.name}: peerErrors`);
    if (a.counter) assert.ok(after[a.counter] > before[a.counter], `${a.name}: ${a.counter} counted`);
  } finally {
    peer.kill();
    await peer.done;
    port.removeAllListeners("down");
    port.removeAllListeners("fail");
  }
}

for (const a of serverAttacks) {
  test(
    `hostile client vs our server: ${a.name} ends in a disconnect naming the reason`,
    { skip, timeout: 30_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "memif-hostile-"));
      const ok = bystander(dir);
      try {
        await ok.check();
        const sock = join(dir, "srv.sock");
        const srv = MemifPort.open({ role: "server", socket: sock });
        const fds = fdCount(),
          maps = memfdMaps();
        try {
          await attackOnce(srv, () => hostilePeer(sock, "slave", a.name, 8000), a);
          // a leak is only ever more: node may close an fd of its own meanwhile (seen in CI)
          assert.ok(
            await until(() => fdCount() <= fds && memfdMaps() <= maps, 5000),
            `${a.name}: fds/maps back to baseline: ${fdCount()} fds (${fds} before), ${memfdMaps()} maps (${maps} before)`,
          );
          await ok.check(); // other connections keep working
        } finally {
          srv.close();
        }
      } finally {
        ok.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}

for (const a of clientAttacks) {
  test(
    `hostile server vs our client: ${a.name} ends in a disconnect naming the reason`,
    { skip, timeout: 30_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "memif-hostile-"));
      const ok = bystander(dir);
      try {
        await ok.check();
        const sock = join(dir, "cli.sock");
        const fds = fdCount(),
          maps = memfdMaps();
        const peer = hostilePeer(sock, "master", a.name, 8000);
        await peer.listening; // not the socket file: it exists from bind(), before listen()
        assert.ok(existsSync(sock), "hostile server listens");
        // A long reconnect delay: the client must not dial the (gone) hostile server again mid-check.
        const cli = MemifPort.open({ role: "client", socket: sock, reconnectMs: 60_000, ringSize: a.ringSize ?? 1024 });
        try {
          await attackOnce(cli, () => peer, a); // a fresh port: nothing counted before this
        } finally {
          cli.close();
        }
        assert.ok(
          await until(() => fdCount() <= fds && memfdMaps() <= maps, 5000),
          `${a.name}: fds/maps back to baseline: ${fdCount()} fds (${fds} before), ${memfdMaps()} maps (${maps} before)`,
        );
        await ok.check();
      } finally {
        ok.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}

// The forwarder's memif mechanism cross-connects the workload's memif with a packet port in a
// native loop; the hostile workload attacks through that loop, not through JS.
for (const name of ["wrap-length", "endless-chain", "ring-index", "tx-bad-buffer"]) {
  const a = serverAttacks.find((x) => x.name === name)!;
  test(
    `hostile client vs a native cross-connect: ${name} ends in a disconnect, the loop keeps running`,
    { skip, timeout: 30_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "memif-hostile-"));
      const ok = bystander(dir);
      try {
        const sock = join(dir, "xc.sock");
        const srv = MemifPort.open({ role: "server", socket: sock });
        // A frame source on the other side keeps the tx direction busy (tx attacks need it).
        const src = PacketPort.null({ frameLen: name === "tx-bad-buffer" ? 64 : 0 });
        const xc = joinPorts(srv, src);
        try {
          await attackOnce(srv, () => hostilePeer(sock, "slave", a.name, 8000), a, true);
          await ok.check();
          assert.ok(xc.stats()); // the loop is still there and answers
        } finally {
          xc.stop();
          src.close();
          srv.close();
        }
      } finally {
        ok.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}

// The pair the memif forwarder backend wires for a MEMIF client and a KERNEL endpoint: memif ↔
// AF_PACKET. Before the fix, two chained 2 GiB descriptors summed to 0 in 32 bits and the loop
// copied gigabytes into the AF_PACKET port's 9216-byte gather buffer.
test(
  "hostile client vs memif<->AF_PACKET (the forwarder's memif mechanism): wrapping lengths end in a disconnect",
  { skip: skip || (process.getuid?.() !== 0 && "needs root (netns, AF_PACKET)"), timeout: 30_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "memif-hostile-"));
    const ns = `t-${process.pid}-hostile`;
    const ip = (...a: string[]): void => void execFileSync("ip", a, { stdio: "ignore" });
    ip("netns", "add", ns);
    t.after(() => {
      ip("netns", "del", ns);
      rmSync(dir, { recursive: true, force: true });
    });
    ip("-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb");
    ip("-n", ns, "link", "set", "va", "up");
    ip("-n", ns, "link", "set", "vb", "up");
    const ok = bystander(dir);
    const sock = join(dir, "fwd.sock");
    const srv = MemifPort.open({ role: "server", socket: sock });
    const afp = PacketPort.afPacket("va", { netns: `/run/netns/${ns}` });
    const xc = joinPorts(srv, afp);
    try {
      const a = serverAttacks.find((x) => x.name === "wrap-length")!;
      await attackOnce(srv, () => hostilePeer(sock, "slave", a.name, 8000), a, true);
      await ok.check();
    } finally {
      xc.stop();
      afp.close();
      srv.close();
      ok.close();
    }
  },
);
