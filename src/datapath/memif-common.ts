/** memif port options and what the port modules share: the addon config built from them, error wrapping. */
import { DatapathError } from "./errors.js";
import { NativeError } from "../native.js";
import type { MemifNativeConfig } from "../native/memif.js";

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

export function nativeConfig(o: MemifOptions): MemifNativeConfig {
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

export function wrap(e: unknown, what: string, where: string): DatapathError {
  if (e instanceof DatapathError) return e;
  if (e instanceof NativeError) return DatapathError.wrap(e, what, where);
  return new DatapathError(
    `${what} (${where}): ${String((e as Error)?.message ?? e)}`,
    { code: "EINVAL", errno: 22, syscall: "memif" },
    { cause: e },
  );
}

export type MemifEvents = {
  /** The link is up: a peer completed the handshake. */
  up: [MemifLink];
  /** The link went down (peer closed, DISCONNECT, error); the port keeps listening/reconnecting. */
  down: [string];
  /** A handshake ended before the link came up (we refused the peer or it refused us). */
  fail: [string];
  /** Interrupt mode: packets arrived (coalesced; call recv() until it returns []). */
  rx: [];
};
