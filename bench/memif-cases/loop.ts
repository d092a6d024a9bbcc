/**
 * What bench/memif and bench/vpp's memif case share: testpmd "A" in io mode with two memif
 * server ports loops packets through a middle forwarder (started by the caller on CPU 1) and
 * back; the rate is what A receives on both ports per second = what the middle forwarded.
 *
 *   const pps = await loopThrough(async (s1, s2) => { …connect two memif clients…; return stop }, 64, 2);
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { joinPorts, MemifPort } from "../../src/datapath/memif.js";
import { Testpmd } from "../../test/helpers/testpmd.js";

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): number => Number(process.hrtime.bigint()) / 1e9;

/** testpmd with its forwarding lcore on `cpu` (the other CPU is its mostly idle main lcore). */
export const cores = (cpu: number): { lcores: string; mainLcore: number } => ({
  lcores: "0,1",
  mainLcore: cpu === 0 ? 1 : 0,
});

/** Packets/s of a counter over one window of `seconds`, after a 1 s warm-up. */
export async function rate(counter: () => Promise<number> | number, seconds: number): Promise<number> {
  await sleep(1000);
  const c0 = await counter(),
    t0 = now();
  await sleep(seconds * 1000);
  const c1 = await counter(),
    t1 = now();
  return (c1 - c0) / (t1 - t0);
}

/** A throwaway directory; `f` gets `<dir>/memif.sock` (not created). */
export async function withDir<T>(f: (sock: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "memif-bench-"));
  try {
    return await f(join(dir, "memif.sock"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Two socket paths in one throwaway directory. */
export async function withDirs<T>(f: (a: string, b: string) => Promise<T>): Promise<T> {
  return withDir((a) => f(a, a.replace(/memif\.sock$/, "memif2.sock")));
}

/** Starts a middle between the two memif server sockets; returns how to stop it. */
export type Middle = (s1: string, s2: string) => Promise<() => Promise<void> | void>;

/**
 * testpmd A (io mode, two memif server ports on `s1`/`s2`, forwarding lcore on CPU 0, frames of
 * `len` bytes) loops packets through `middle` and back. A starts forwarding with `start
 * tx_first 8` (the interactive form of `--tx-first`: 8 bursts of 32 per port) once the middle's
 * links are up, so the first bursts are not dropped. Returns packets A received on both ports
 * per second over one window of `seconds` (after 1 s of warm-up).
 */
export async function loopThrough(middle: Middle, len: number, seconds: number): Promise<number> {
  return withDirs(async (s1, s2) => {
    const a = await Testpmd.start({
      role: "server",
      socket: s1,
      socket2: s2,
      forwardMode: "io",
      txPktLen: len,
      autoStart: false,
      ...cores(0),
    });
    let stop: (() => Promise<void> | void) | undefined;
    try {
      stop = await middle(s1, s2);
      await a.waitLinkUp();
      await a.cmd("start tx_first 8");
      const both = async () => (await a.portStats(0)).rxPackets + (await a.portStats(1)).rxPackets;
      return await rate(both, seconds);
    } finally {
      await stop?.();
      await a.stop();
    }
  });
}

/** a second testpmd in io mode with two memif client ports, forwarding on CPU 1 */
export const testpmdMiddle: Middle = async (s1, s2) => {
  const b = await Testpmd.start({ role: "client", socket: s1, socket2: s2, forwardMode: "io", ...cores(1) });
  return () => b.stop();
};
/** two memif clients joined by our native loop (busy-poll on CPU 1) */
export const oursMiddle: Middle = async (s1, s2) => {
  const p1 = MemifPort.open({ role: "client", socket: s1, mode: "polling", reconnectMs: 100 });
  const p2 = MemifPort.open({ role: "client", socket: s2, mode: "polling", reconnectMs: 100 });
  const close = () => {
    p1.close();
    p2.close();
  };
  try {
    await p1.waitUp({ timeoutMs: 10_000 });
    await p2.waitUp({ timeoutMs: 10_000 });
    const xc = joinPorts(p1, p2, { busyPoll: true, cpu: 1 });
    return () => {
      xc.stop();
      close();
    };
  } catch (e) {
    close();
    throw e;
  }
};
