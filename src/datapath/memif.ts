/**
 * memif ports over the native addon: the memif control protocol (both roles), shared-memory
 * rings, and a native cross-connect loop. Interoperates with DPDK net_memif and VPP (see
 * docs/memif.md; the protocol is upstream `vpp/src/plugins/memif/memif.h`).
 *
 * ```ts
 * const port = MemifPort.open({ role: "server", socket: "/run/nsm/memif.sock" });
 * const link = await port.waitUp({ timeoutMs: 5000 });       // a client connected
 * port.send([frame]);                                          // Buffers in, copied to the ring
 * const got = await port.receive(1, { timeoutMs: 1000 });      // Buffers out
 * const xc = joinPorts(port, PacketPort.afPacket("veth0")); // native loop, no JS per packet
 * xc.stop(); port.close();
 * ```
 * The TS side validates and holds policy; the addon does syscalls and rings only.
 */
import { EventEmitter } from "node:events";
import { DatapathError } from "./errors.js";
import {
  memifNative,
  NativeError,
  type MemifForwardStats,
  type MemifNativeConfig,
  type MemifNativeEvent,
  type MemifPortStats,
} from "../native.js";

export type { MemifForwardStats, MemifPortStats } from "../native.js";

/** DPDK says server/client, VPP and libmemif master/slave: same roles. */
export type MemifRole = "server" | "client" | "master" | "slave";

export interface MemifOptions {
  /** server (= master: listens, maps the client's memory) or client (= slave: connects, owns the memory). */
  readonly role: MemifRole;
  /** Socket file path, or "@name" / "abstract:name" for an abstract socket (per netns). */
  readonly socket: string;
  /** Interface id the client asks for; both sides must agree (default 0). */
  readonly id?: number;
  /** Descriptors per ring, a power of two 2..16384 (default 1024). A client uses min(this, peer max). */
  readonly ringSize?: number;
  /** Bytes per buffer, 64..65535 (default 2048). Larger packets are chained over descriptors. */
  readonly bufferSize?: number;
  /** interrupt: the peer signals an eventfd per burst and we sleep; polling: the peer never signals. */
  readonly mode?: "interrupt" | "polling";
  /** ethernet (default; the only mode DPDK supports) or ip (NSM's IP payload, VPP only). */
  readonly payload?: "ethernet" | "ip";
  /** Shared secret checked by the server (max 23 bytes). */
  readonly secret?: string;
  /** Our name in HELLO/INIT (max 31 bytes). */
  readonly name?: string;
  /** Our interface name in CONNECT/CONNECTED (max 31 bytes). */
  readonly ifName?: string;
  /** Client: delay between connection attempts, ms (default 1000). */
  readonly reconnectMs?: number;
  /** A peer silent this long mid-handshake is dropped, ms (default 3000). */
  readonly handshakeTimeoutMs?: number;
  /** Netns file (/run/netns/x, /proc/<pid>/ns/net) holding the socket; root only. */
  readonly netns?: string;
}

/** What the link negotiated, reported with "up". */
export interface MemifLink {
  readonly peerName: string;
  readonly peerIfName: string;
  readonly ringSize: number;
  readonly bufferSize: number;
  readonly regions: number;
}

export interface WaitOptions {
  readonly signal?: AbortSignal;
  /** Default 5000. */
  readonly timeoutMs?: number;
}

/** Anything {@link joinPorts} can join: a memif port or a {@link PacketPort}. */
export interface Connectable {
  /** @internal the addon handle */
  readonly handle: number;
  readonly closed: boolean;
}

const asciiMax = (what: string, v: string | undefined, max: number): void => {
  if (v !== undefined && Buffer.byteLength(v) > max) {
    throw DatapathError.invalid(`memif: ${what} "${v}" is longer than ${max} bytes`, { path: v });
  }
};

function nativeConfig(o: MemifOptions): MemifNativeConfig {
  const roles: Record<string, "master" | "slave"> = {
    server: "master",
    master: "master",
    client: "slave",
    slave: "slave",
  };
  const role = roles[o.role];
  if (!role) throw DatapathError.invalid(`memif: role "${String(o.role)}" is not server, client, master or slave`);
  if (typeof o.socket !== "string" || o.socket === "" || o.socket === "@" || o.socket === "abstract:") {
    throw DatapathError.invalid(`memif: socket "${String(o.socket)}" is empty`);
  }
  if (Buffer.byteLength(o.socket.replace(/^(@|abstract:)/, "")) > 106)
    throw DatapathError.invalid(`memif: socket "${o.socket}" is longer than 106 bytes`, { path: o.socket });
  const id = o.id ?? 0;
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw DatapathError.invalid(`memif: id ${id} is not a u32`);
  const ringSize = o.ringSize ?? 1024;
  const log2Ring = Math.log2(ringSize);
  if (!Number.isInteger(log2Ring) || log2Ring < 1 || log2Ring > 14) {
    throw DatapathError.invalid(`memif: ringSize ${ringSize} is not a power of two in 2..16384`);
  }
  const bufferSize = o.bufferSize ?? 2048;
  if (!Number.isInteger(bufferSize) || bufferSize < 64 || bufferSize > 65535) {
    throw DatapathError.invalid(`memif: bufferSize ${bufferSize} is not in 64..65535`);
  }
  if (o.mode !== undefined && o.mode !== "interrupt" && o.mode !== "polling")
    throw DatapathError.invalid(`memif: mode "${String(o.mode)}" is not interrupt or polling`);
  if (o.payload !== undefined && o.payload !== "ethernet" && o.payload !== "ip")
    throw DatapathError.invalid(`memif: payload "${String(o.payload)}" is not ethernet or ip`);
  asciiMax("secret", o.secret, 23);
  asciiMax("name", o.name, 31);
  asciiMax("ifName", o.ifName, 31);
  const cfg: { -readonly [K in keyof MemifNativeConfig]: MemifNativeConfig[K] } = {
    role,
    socket: o.socket,
    id,
    log2Ring,
    bufferSize,
    interrupt: (o.mode ?? "interrupt") === "interrupt",
    mode: o.payload === "ip" ? 1 : 0,
    reconnectMs: o.reconnectMs ?? 1000,
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? 3000,
  };
  if (o.secret !== undefined) cfg.secret = o.secret;
  if (o.name !== undefined) cfg.name = o.name;
  if (o.ifName !== undefined) cfg.ifName = o.ifName;
  if (o.netns !== undefined) cfg.netns = o.netns;
  return cfg;
}

function wrap(e: unknown, what: string, where: string): DatapathError {
  if (e instanceof DatapathError) return e;
  if (e instanceof NativeError) return DatapathError.wrap(e, what, where);
  return new DatapathError(
    `${what} (${where}): ${String((e as Error)?.message ?? e)}`,
    { code: "EINVAL", errno: 22, syscall: "memif" },
    { cause: e },
  );
}

type MemifEvents = {
  /** The link is up: a peer completed the handshake. */
  up: [MemifLink];
  /** The link went down (peer closed, DISCONNECT, error); the port keeps listening/reconnecting. */
  down: [string];
  /** A handshake ended before the link came up (we refused the peer or it refused us). */
  fail: [string];
  /** Interrupt mode: packets arrived (coalesced; call recv() until it returns []). */
  rx: [];
};

/**
 * One memif interface. Emits "up"/"down" as peers come and go; a client reconnects by itself and
 * a server accepts the next client. `close()` is idempotent and releases every fd and mapping.
 */
export class MemifPort extends EventEmitter<MemifEvents> implements Connectable {
  readonly handle: number;
  readonly role: "server" | "client";
  readonly socket: string;
  #closed = false;
  #up = false;
  #link: MemifLink | undefined;
  #joined = false;

  private constructor(cfg: MemifNativeConfig) {
    super();
    this.role = cfg.role === "master" ? "server" : "client";
    this.socket = cfg.socket;
    try {
      this.handle = memifNative.open(cfg, (e) => this.#onEvent(e));
    } catch (e) {
      throw wrap(e, `memif ${this.role} open`, cfg.socket);
    }
  }

  /** Opens a port. A server listens at once (throws EADDRINUSE etc. here); a client connects in the background. */
  static open(o: MemifOptions): MemifPort {
    return new MemifPort(nativeConfig(o));
  }

  get closed(): boolean {
    return this.#closed;
  }
  /** True while the link is up. */
  get up(): boolean {
    return this.#up;
  }
  /** The current link, while up. */
  get link(): MemifLink | undefined {
    return this.#link;
  }

  #onEvent(e: MemifNativeEvent): void {
    if (this.#closed) return;
    if (e.type === "up") {
      this.#up = true;
      this.#link = {
        peerName: e.peerName,
        peerIfName: e.peerIfName,
        ringSize: e.ringSize,
        bufferSize: e.bufferSize,
        regions: e.regions,
      };
      this.emit("up", this.#link);
    } else if (e.type === "down") {
      if (e.wasUp) {
        this.#up = false;
        this.#link = undefined;
        this.emit("down", e.reason);
      } else {
        this.emit("fail", e.reason);
      }
    } else {
      this.emit("rx");
    }
  }

  #check(op: string): void {
    if (this.#closed)
      throw new DatapathError(`memif ${op} on ${this.socket}: port is closed`, {
        code: "EBADF",
        errno: 9,
        syscall: op,
        path: this.socket,
      });
    if (this.#joined)
      throw new DatapathError(`memif ${op} on ${this.socket}: port is joined to another port (joinPorts)`, {
        code: "EBUSY",
        errno: 16,
        syscall: op,
        path: this.socket,
      });
  }

  /** Copies packets into the tx ring; returns how many fit (0 while down). Never blocks. */
  send(packets: readonly Uint8Array[]): number {
    this.#check("send");
    return memifNative.send(this.handle, packets);
  }

  /** Copies up to `max` waiting packets out of the rx ring (possibly none). Never blocks. */
  recv(max = 256): Buffer[] {
    this.#check("recv");
    return memifNative.recv(this.handle, max);
  }

  /**
   * Collects `count` packets: woken by "rx" in interrupt mode, polling every millisecond in
   * polling mode. Resolves with what arrived by the deadline if `partial`, else rejects ETIMEDOUT.
   */
  async receive(count: number, o: WaitOptions & { partial?: boolean } = {}): Promise<Buffer[]> {
    this.#check("receive");
    const out: Buffer[] = [];
    const deadline = Date.now() + (o.timeoutMs ?? 5000);
    while (out.length < count) {
      out.push(...this.recv(count - out.length));
      if (out.length >= count) break;
      const left = deadline - Date.now();
      if (left <= 0 || o.signal?.aborted) {
        if (o.partial) return out;
        throw new DatapathError(
          `memif receive on ${this.socket}: ${out.length}/${count} packets after ${o.timeoutMs ?? 5000} ms`,
          { code: "ETIMEDOUT", errno: 110, syscall: "receive", path: this.socket },
        );
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.off("rx", done);
          o.signal?.removeEventListener("abort", done);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 2));
        this.once("rx", done);
        o.signal?.addEventListener("abort", done, { once: true });
      });
      if (this.#closed)
        throw new DatapathError(`memif receive on ${this.socket}: port closed`, {
          code: "EBADF",
          errno: 9,
          syscall: "receive",
          path: this.socket,
        });
    }
    return out;
  }

  /** Resolves with the link once it is up (at once if it is). */
  waitUp(o: WaitOptions = {}): Promise<MemifLink> {
    if (this.#up && this.#link) return Promise.resolve(this.#link);
    return this.#wait("up", o).then(() => this.#link!);
  }

  /** Resolves with the reason once the link goes down (at once if it is down). */
  waitDown(o: WaitOptions = {}): Promise<string> {
    if (!this.#up) return Promise.resolve(this.info().lastReason);
    return this.#wait("down", o).then(() => this.info().lastReason);
  }

  #wait(ev: "up" | "down", o: WaitOptions): Promise<void> {
    const ms = o.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(t);
        this.off(ev, ok);
        o.signal?.removeEventListener("abort", abort);
      };
      const ok = (): void => {
        cleanup();
        resolve();
      };
      const abort = (): void => {
        cleanup();
        reject(o.signal?.reason ?? new Error("aborted"));
      };
      const t = setTimeout(() => {
        cleanup();
        const why = this.#closed ? "port closed" : this.info().lastReason;
        reject(
          new DatapathError(
            `memif ${this.role} ${this.socket}: not ${ev} after ${ms} ms${why ? ` (last: ${why})` : ""}`,
            { code: "ETIMEDOUT", errno: 110, syscall: `wait ${ev}`, path: this.socket },
          ),
        );
      }, ms);
      this.on(ev, ok);
      o.signal?.addEventListener("abort", abort, { once: true });
    });
  }

  /** Counters since open (all connections). */
  stats(): MemifPortStats {
    if (this.#closed)
      throw new DatapathError(`memif stats on ${this.socket}: port is closed`, {
        code: "EBADF",
        errno: 9,
        syscall: "stats",
        path: this.socket,
      });
    return memifNative.stats(this.handle);
  }

  /** Link state as the control thread sees it, with the last disconnect/refusal reason. */
  info(): {
    up: boolean;
    lastReason: string;
    peerName: string;
    peerIfName: string;
    ringSize: number;
    bufferSize: number;
    regions: number;
  } {
    if (this.#closed)
      return { up: false, lastReason: "closed", peerName: "", peerIfName: "", ringSize: 0, bufferSize: 0, regions: 0 };
    return memifNative.info(this.handle);
  }

  /** Lets the process exit while this port is open (like net.Socket.unref). */
  unref(): this {
    if (!this.#closed) memifNative.unref(this.handle, true);
    return this;
  }

  /** @internal used by joinPorts */
  _setJoined(v: boolean): void {
    this.#joined = v;
  }

  /** Sends DISCONNECT if up, unmaps, closes every fd, stops a cross-connect using it. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const wasUp = this.#up;
    this.#up = false;
    memifNative.close(this.handle);
    if (wasUp) this.emit("down", "closed");
    this.removeAllListeners("rx");
  }
}

/** A non-memif port for cross-connects: AF_PACKET on a link, a tap device, or a benchmark null port. */
export class PacketPort implements Connectable {
  #closed = false;
  private constructor(
    readonly handle: number,
    readonly description: string,
  ) {}

  /** Raw AF_PACKET socket bound to `ifname` (e.g. a veth end), in `netns` if given. Root only. */
  static afPacket(ifname: string, o: { netns?: string } = {}): PacketPort {
    return PacketPort.#open(
      { kind: "afpacket", ifname, ...(o.netns ? { netns: o.netns } : {}) },
      `afpacket ${ifname}`,
      o.netns,
    );
  }

  /** Creates (or attaches to) tap device `ifname` (IFF_TAP|IFF_NO_PI), in `netns` if given; it goes away on close. Root only. */
  static tap(ifname: string, o: { netns?: string } = {}): PacketPort {
    return PacketPort.#open({ kind: "tap", ifname, ...(o.netns ? { netns: o.netns } : {}) }, `tap ${ifname}`, o.netns);
  }

  /** Drops what it is sent; with `frameLen` > 0 it also emits an endless stream of UDP frames of that size (like testpmd txonly). */
  static null(o: { frameLen?: number } = {}): PacketPort {
    const frameLen = o.frameLen ?? 0;
    if (!Number.isInteger(frameLen) || frameLen < 0 || frameLen > 9000)
      throw DatapathError.invalid(`null port: frameLen ${frameLen} is not in 0..9000`);
    return new PacketPort(memifNative.packetPortOpen({ kind: "null", frameLen }), `null(${frameLen})`);
  }

  static #open(
    spec: { kind: "afpacket" | "tap"; ifname: string; netns?: string },
    what: string,
    netns: string | undefined,
  ): PacketPort {
    if (!spec.ifname || Buffer.byteLength(spec.ifname) > 15)
      throw DatapathError.invalid(`${spec.kind}: ifname "${spec.ifname}" is empty or longer than 15 bytes`, {
        path: spec.ifname,
      });
    try {
      return new PacketPort(memifNative.packetPortOpen(spec), what);
    } catch (e) {
      throw wrap(e, `open ${what}`, netns ?? "current netns");
    }
  }

  get closed(): boolean {
    return this.#closed;
  }
  stats(): MemifPortStats {
    return memifNative.stats(this.handle);
  }
  /** Idempotent; stops a cross-connect using it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    memifNative.close(this.handle);
  }
}

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

/** Test hook: a raw control-channel peer (see docs/memif.md). */
export { memifNative as _memifNative } from "../native.js";
