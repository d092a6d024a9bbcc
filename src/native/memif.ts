/**
 * The addon's memif calls (native/src/memif*.cc): ports, packet ports and forwarders, typed;
 * wrapped for use in src/datapath/memif.ts. Handles are small integers owned by the caller;
 * memifPortClose/memifForwardStop are idempotent. The raw control-channel test peer lives in the
 * test-only addon (test/helpers/raw-peer.ts), not here.
 */
import { load, sync } from "../native.js";
/** Configuration as the addon takes it; src/datapath/memif.ts validates and fills defaults. */
export interface MemifNativeConfig {
  readonly role: "master" | "slave";
  /** File path, or "@name" / "abstract:name" for the Linux abstract namespace. */
  readonly socket: string;
  readonly id: number;
  readonly log2Ring: number;
  readonly bufferSize: number;
  /** false: polling (MASK_INT set on our receive ring, the peer never signals us). */
  readonly interrupt: boolean;
  /** 0 ethernet, 1 ip. */
  readonly mode: number;
  readonly secret?: string;
  readonly name?: string;
  readonly ifName?: string;
  readonly reconnectMs?: number;
  readonly handshakeTimeoutMs?: number;
  /** Netns file whose network namespace holds the socket (abstract names are per netns). */
  readonly netns?: string;
}

/** Events from a memif port's control thread. */
export type MemifNativeEvent =
  | {
      readonly type: "up";
      readonly peerName: string;
      readonly peerIfName: string;
      readonly ringSize: number;
      readonly bufferSize: number;
      readonly regions: number;
    }
  | { readonly type: "down"; readonly reason: string; readonly wasUp: boolean }
  | { readonly type: "rx" };

/** Counters of a port (memif, AF_PACKET, tap or null), cumulative since open. */
export interface MemifPortStats {
  readonly rxPackets: number;
  readonly rxBytes: number;
  readonly txPackets: number;
  readonly txBytes: number;
  /** Packets not sent: ring full, link down. */
  readonly txDrops: number;
  /** Rx ring violations by the peer (ring index out of range, descriptor outside its region, endless chain). */
  readonly rxErrors: number;
  /** Tx ring violations by the peer (a posted buffer outside its region, tail out of range). */
  readonly txErrors: number;
  /** Connections we ended because the peer broke the protocol (handshake or rings); each with a reason. */
  readonly peerErrors: number;
  readonly connects: number;
  readonly disconnects: number;
}

export interface MemifNativeInfo {
  readonly up: boolean;
  readonly peerName: string;
  readonly peerIfName: string;
  /** Why the last connection ended or the last attempt failed ("" if none). */
  readonly lastReason: string;
  readonly ringSize: number;
  readonly bufferSize: number;
  readonly regions: number;
}

export interface MemifForwardStats {
  readonly aToB: number;
  readonly bToA: number;
  readonly drops: number;
  /** Times the loop slept and woke (0 when busy-polling). */
  readonly wakeups: number;
}

/** A packet port that is not memif: an AF_PACKET socket or a tap device, or a benchmark null port. */
export type MemifPacketPortSpec =
  | { readonly kind: "afpacket" | "tap"; readonly ifname: string; readonly netns?: string }
  | { readonly kind: "null"; readonly frameLen: number };

interface MemifAddon {
  memifOpen(cfg: MemifNativeConfig, onEvent: (e: MemifNativeEvent) => void): number;
  memifPortClose(h: number): void;
  memifUnref(h: number, unref: boolean): void;
  memifSend(h: number, pkts: readonly Uint8Array[]): number;
  memifRecv(h: number, max: number): Buffer[];
  memifPortStats(h: number): MemifPortStats;
  memifInfo(h: number): MemifNativeInfo;
  memifPacketPortOpen(spec: MemifPacketPortSpec): number;
  memifForwardStart(a: number, b: number, opts: { busyPoll: boolean; cpu: number }): number;
  memifForwardStats(f: number): MemifForwardStats | null;
  memifForwardStop(f: number): MemifForwardStats | null;
}

function memifAddon(): MemifAddon {
  const a = load() as unknown as Partial<MemifAddon>;
  if (!a.memifOpen) throw new Error('nsm_native.node is out of date (no memifOpen); run "npm run build:native"');
  return a as MemifAddon;
}

/**
 * The addon's memif calls (synchronous unless noted; errors are NativeError). Use the
 * typed wrappers in src/datapath/memif.ts; this is their only door.
 */
export const memifNative = {
  /** Opens a port: a master binds+listens now (EADDRINUSE etc. thrown here), a slave connects in the background. */
  open: (cfg: MemifNativeConfig, onEvent: (e: MemifNativeEvent) => void): number =>
    sync(() => memifAddon().memifOpen(cfg, onEvent)),
  /** Closes any port (stops a forwarder using it first). Idempotent. */
  close: (h: number): void => sync(() => memifAddon().memifPortClose(h)),
  /** Whether an open memif port keeps the event loop alive (it does by default). */
  unref: (h: number, unref: boolean): void => sync(() => memifAddon().memifUnref(h, unref)),
  /** Copies packets into the tx ring; returns how many fit (the rest count as txDrops). */
  send: (h: number, pkts: readonly Uint8Array[]): number => sync(() => memifAddon().memifSend(h, pkts)),
  /** Copies up to `max` received packets out of the rx ring. */
  recv: (h: number, max: number): Buffer[] => sync(() => memifAddon().memifRecv(h, max)),
  stats: (h: number): MemifPortStats => sync(() => memifAddon().memifPortStats(h)),
  info: (h: number): MemifNativeInfo => sync(() => memifAddon().memifInfo(h)),
  /** Opens an AF_PACKET / tap / null port for cross-connects. Root for afpacket and tap. */
  packetPortOpen: (spec: MemifPacketPortSpec): number => sync(() => memifAddon().memifPacketPortOpen(spec)),
  /** Starts a native loop a<->b on its own thread (cpu -1: no pinning). */
  forwardStart: (a: number, b: number, opts: { busyPoll: boolean; cpu: number }): number =>
    sync(() => memifAddon().memifForwardStart(a, b, opts)),
  forwardStats: (f: number): MemifForwardStats | null => sync(() => memifAddon().memifForwardStats(f)),
  /** Stops and joins the loop; returns its final counters, or null if it was already stopped. */
  forwardStop: (f: number): MemifForwardStats | null => sync(() => memifAddon().memifForwardStop(f)),
};
