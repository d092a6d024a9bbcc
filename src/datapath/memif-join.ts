/** {@link joinPorts}: a native loop between two ports (see memif.ts). */
import { DatapathError } from "./errors.js";
import { memifNative, type MemifForwardStats } from "../native/memif.js";
import { wrap } from "./memif-common.js";
import { MemifPort } from "./memif-port.js";
import { PacketPort } from "./packet-port.js";

export interface JoinOptions {
  /** Spin on one core (lowest latency, highest rate) instead of sleeping on eventfds when idle. */
  readonly busyPoll?: boolean;
  /** Pin the loop's thread to this CPU. */
  readonly cpu?: number;
}

/** A running native loop between two ports. */
export interface PortJoin {
  /** Packets moved each way so far. */
  stats(): MemifForwardStats;
  /** Stops and joins the loop; the ports stay open. Idempotent; returns the final counters. */
  stop(): MemifForwardStats;
}

/**
 * Joins two ports with a native loop on its own thread: a.rx → b.tx and b.rx → a.tx, copying once,
 * no JavaScript per packet. While joined, a memif port refuses send/recv from JS. Survives memif
 * reconnects (the loop follows the new rings).
 */
export function joinPorts(a: MemifPort | PacketPort, b: MemifPort | PacketPort, o: JoinOptions = {}): PortJoin {
  if (a.closed || b.closed)
    throw new DatapathError("joinPorts: a port is closed", { code: "EBADF", errno: 9, syscall: "joinPorts" });
  let f: number;
  try {
    f = memifNative.forwardStart(a.handle, b.handle, { busyPoll: o.busyPoll ?? false, cpu: o.cpu ?? -1 });
  } catch (e) {
    throw wrap(e, "joinPorts", "native");
  }
  for (const p of [a, b]) if (p instanceof MemifPort) p._setJoined(true);
  let last: MemifForwardStats = { aToB: 0, bToA: 0, drops: 0, wakeups: 0 };
  let stopped = false;
  return {
    stats: () => (stopped ? last : (memifNative.forwardStats(f) ?? last)),
    stop: () => {
      if (stopped) return last;
      stopped = true;
      last = memifNative.forwardStop(f) ?? last;
      for (const p of [a, b]) if (p instanceof MemifPort) p._setJoined(false);
      return last;
    },
  };
}
