// The addon in worker_threads: each environment has its own handle table, and when a worker ends
// with memif ports and a cross-connect still open, its cleanup hooks close them (threads joined,
// memory unmapped, fds closed) without touching the main thread's ports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { nativeAvailable } from "../../src/native.js";
import { MemifPort } from "../../src/datapath/memif.js";

const skip = !nativeAvailable() ? "addon not built (npm run build:native)" : false;
const fdCount = (): number => readdirSync("/proc/self/fd").length;
const memfdMaps = (): number =>
  readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((l) => l.includes("memfd:")).length;

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return pred();
}

// Runs in the worker: a linked server/client pair, joined natively to a null port, never closed.
const workerSource = `
  const { parentPort, workerData } = require("node:worker_threads");
  const addon = require(workerData.addon);
  const events = [];
  const srv = addon.memifOpen({ role: "master", socket: workerData.sock }, (e) => events.push("srv:" + e.type));
  const cli = addon.memifOpen({ role: "slave", socket: workerData.sock, reconnectMs: 20 }, (e) => events.push("cli:" + e.type));
  const timer = setInterval(() => {
    if (addon.memifInfo(srv).up && addon.memifInfo(cli).up) {
      clearInterval(timer);
      const nul = addon.memifPacketPortOpen({ kind: "null", frameLen: 0 });
      addon.memifForwardStart(srv, nul, { busyPoll: false, cpu: -1 });
      parentPort.postMessage({ up: true, handles: [srv, cli] });
    }
  }, 10);
`;

test(
  "a worker that ends with memif ports open leaves no thread, fd or mapping behind",
  { skip, timeout: 30_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "memif-env-"));
    // closed in finally: open ports keep their native threads (and so this test process) alive
    let srv: MemifPort | undefined, cli: MemifPort | undefined;
    try {
      // The main thread's own pair, opened first: it must survive the worker's teardown.
      const mainSock = join(dir, "main.sock");
      srv = MemifPort.open({ role: "server", socket: mainSock });
      cli = MemifPort.open({ role: "client", socket: mainSock, reconnectMs: 20 });
      await Promise.all([srv.waitUp(), cli.waitUp()]);
      const fds = fdCount(),
        maps = memfdMaps();
      const addon =
        process.env["NSM_NATIVE_ADDON"] ?? join(import.meta.dirname, "..", "..", "build", "Release", "nsm_native.node");
      for (let round = 0; round < 3; round++) {
        const w = new Worker(workerSource, { eval: true, workerData: { addon, sock: join(dir, `w${round}.sock`) } });
        const msg = await new Promise<{ up: boolean; handles: number[] }>((resolve, reject) => {
          w.once("message", resolve);
          w.once("error", reject);
        });
        assert.equal(msg.up, true);
        // Handles are per environment: the worker's numbers mean nothing here.
        for (const h of msg.handles) assert.ok(h > 0);
        await w.terminate();
        // nothing left behind: at most the fds and maps of before (another part of node may close one of its own meanwhile)
        const back = await until(() => fdCount() <= fds && memfdMaps() <= maps, 15_000);
        assert.ok(back, `round ${round}: fds ${fdCount()} (was ${fds}), memfd maps ${memfdMaps()} (was ${maps})`);
      }
      assert.equal(cli.send([Buffer.alloc(64, 1)]), 1);
      assert.equal((await srv.receive(1, { timeoutMs: 2000 }))[0]?.length, 64);
    } finally {
      cli?.close();
      srv?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
