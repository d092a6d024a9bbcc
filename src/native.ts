/**
 * The only door to the C++ addon (build/Release/nsm_native.node, built by `npm run build:native`).
 * Every export is typed; errors from native code are rethrown here as {@link NativeError} so
 * the stack shows the TypeScript caller, with errno, code ("ENOENT"), syscall and path kept.
 *
 * ```ts
 * const links = await linkList("/run/netns/blue"); // [{ index: 1, name: "lo", mtu: 65536, ... }]
 * ```
 * Namespace operations need root (CAP_SYS_ADMIN for setns, CAP_NET_ADMIN for changes).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** A link as reported by {@link linkList}. */
export interface LinkInfo {
  readonly index: number;
  readonly name: string;
  readonly mtu: number;
  /** ifi_flags (IFF_*). */
  readonly flags: number;
  readonly up: boolean;
  /** "aa:bb:cc:dd:ee:ff"; "" when the link has no hardware address (tun). */
  readonly mac: string;
  /** IFLA_INFO_KIND ("veth", "bridge", ...); absent for physical devices and lo. */
  readonly kind?: string;
}

/** A message of an {@link nlExec} batch that failed: errno, the call or message type, the object. */
export interface NlStepError {
  readonly errno: number;
  readonly code: string;
  /** "RTM_NEWLINK" for a kernel refusal, "open" / "SIOCGIFINDEX" / "TUNSETIFF" for a local step. */
  readonly syscall: string;
  readonly path?: string;
  /** The kernel's extended-ack text ("Invalid MTU"), when it gave one. */
  readonly detail?: string;
  readonly message: string;
}

/** What {@link nlExec} reports per message (arrays have one entry per message of the batch). */
export interface NlExecResult {
  /** Messages that ran: all of them, or up to and including the first failure. */
  readonly done: number;
  readonly errors: (NlStepError | null)[];
  /** Replies of dumps and NLM_F_ECHO requests: whole nlmsghdr frames, or null. */
  readonly replies: (Uint8Array | null)[];
  /** Nanoseconds from the start of each message (fixups included) to its ack. */
  readonly timesNs: Float64Array;
}

/** Patches applied by native code right before message `msg` is sent. */
export type NlFixup =
  /** Open `path` (a netns file) and write its fd as u32 at byte `offset` of the message. */
  | { readonly kind: "nsfd"; readonly msg: number; readonly offset: number; readonly path: string }
  /** Resolve link `name` in the batch's netns and write its index as i32 at `offset`. */
  | { readonly kind: "ifindex"; readonly msg: number; readonly offset: number; readonly name: string }
  /** Send message `msg` to another netns (an fd the caller keeps open, or a path opened then). */
  | { readonly kind: "target"; readonly msg: number; readonly fd: number }
  | { readonly kind: "target"; readonly msg: number; readonly path: string };

interface Addon {
  netnsOpen(path: string): number;
  fdDup(fd: number): number;
  fdClose(fd: number): void;
  fdInode(fd: number): string;
  linkList(netns: string | number): Promise<LinkInfo[]>;
  nlWatchOpen?(nsFd: number, groups: readonly number[]): number;
  icmpEcho?(netns: string, o: IcmpEchoOptions): Promise<IcmpEchoResult>;
  nlExec?(
    nsFd: number,
    batch: Uint8Array,
    fixups: readonly NlFixup[],
    opts: { keepGoing: boolean; ownThread: boolean },
  ): Promise<NlExecResult>;
}

/**
 * An error from the addon: a failed syscall or a kernel refusal. `syscall` is the call
 * ("open", "setns") or the netlink message type ("RTM_NEWLINK"); `path` the object it named.
 */
export class NativeError extends Error {
  override readonly name = "NativeError";
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;
  readonly path: string | undefined;
  /** The kernel's extended-ack text ("Invalid MTU"), when it gave one. */
  readonly detail: string | undefined;

  constructor(
    message: string,
    o: { errno: number; code: string; syscall: string; path?: string; detail?: string },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.errno = o.errno;
    this.code = o.code;
    this.syscall = o.syscall;
    this.path = o.path;
    this.detail = o.detail;
  }

  /** Rebuilds an error thrown by the addon (plain Error with extra fields) at the TS call site. */
  static from(e: unknown): NativeError {
    if (e instanceof NativeError) return e;
    const r = (e ?? {}) as Partial<NativeError> & { message?: string };
    if (typeof r.errno !== "number" || typeof r.code !== "string") {
      return new NativeError(String(r.message ?? e), { errno: 0, code: "EUNKNOWN", syscall: "" }, { cause: e });
    }
    const fields: { errno: number; code: string; syscall: string; path?: string; detail?: string } = {
      errno: r.errno,
      code: r.code,
      syscall: r.syscall ?? "",
    };
    if (typeof r.path === "string") fields.path = r.path;
    if (typeof r.detail === "string") fields.detail = r.detail;
    return new NativeError(`${r.code}: ${r.message}`, fields);
  }
}

let addon: Addon | undefined;
let loadError: Error | undefined;

function candidates(): string[] {
  const env = process.env["NSM_NATIVE_ADDON"];
  const here = dirname(fileURLToPath(import.meta.url));
  // src/native.ts (tsx) and dist/src/native.js (built) sit at different depths below the root.
  const found = [
    join(here, "..", "build", "Release", "nsm_native.node"),
    join(here, "..", "..", "build", "Release", "nsm_native.node"),
  ];
  return env ? [env, ...found] : found;
}

/** The loaded addon (throws when it is not built); src/native/*.ts type parts of it. */
export function load(): Addon {
  if (addon) return addon;
  if (loadError) throw loadError;
  const path = candidates().find((p) => existsSync(p));
  if (!path) {
    loadError = new Error(`nsm_native.node not found (tried ${candidates().join(", ")}); run "npm run build:native"`);
    throw loadError;
  }
  addon = createRequire(import.meta.url)(path) as Addon;
  return addon;
}

/** True when the addon is built and loads; tests use it to skip instead of failing. */
export function nativeAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

/** @internal for src/native/*.ts: a call into the raw addon, its errors as NativeError */
export function addonCall<T>(f: (raw: Record<string, (...a: never[]) => unknown>) => T): T {
  return sync(() => f(load() as never));
}

export function sync<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw NativeError.from(e);
  }
}

/** Opens a netns file (`/run/netns/x`, `/proc/<pid>/ns/net`) O_RDONLY|O_CLOEXEC; the caller owns the fd. */
export function netnsOpen(path: string): number {
  return sync(() => load().netnsOpen(path));
}

/** Duplicates `fd` (F_DUPFD_CLOEXEC); the caller owns the new fd and keeps owning `fd`. */
export function fdDup(fd: number): number {
  return sync(() => load().fdDup(fd));
}

/** Closes an fd obtained from this module. Call once per fd. */
export function fdClose(fd: number): void {
  sync(() => load().fdClose(fd));
}

/** "dev:ino" of the file behind `fd`; two netns fds are the same namespace iff these match. */
export function fdInode(fd: number): string {
  return sync(() => load().fdInode(fd));
}

/**
 * A NETLINK_ROUTE socket made inside the netns `nsFd` (the caller keeps owning that fd), joined
 * to the rtnetlink multicast groups `groups` (RTNLGRP_* numbers); the caller owns the returned
 * fd (non-blocking, O_CLOEXEC). Read it through src/native/fdsock.ts.
 */
export function nlWatchOpen(nsFd: number, groups: readonly number[]): number {
  const a = load();
  if (!a.nlWatchOpen) throw new Error('nsm_native.node is out of date (no nlWatchOpen); run "npm run build:native"');
  const open = a.nlWatchOpen.bind(a);
  return sync(() => open(nsFd, groups));
}

/**
 * Lists the links of the netns at `netns` (a path, opened and closed here, or an fd the caller
 * keeps owning), via an RTM_GETLINK dump on a worker thread that never stays in that netns.
 * Throws {@link NativeError}: ENOENT (syscall "open", path) for a missing netns file.
 */
export async function linkList(netns: string | number): Promise<LinkInfo[]> {
  const a = load();
  try {
    return await a.linkList(netns);
  } catch (e) {
    throw NativeError.from(e);
  }
}

export interface IcmpEchoOptions {
  /** the address to ping (IPv4 or IPv6, no prefix) */
  dst: string;
  /** bind to this source address (same family as dst) */
  src?: string;
  /** send only through this interface (SO_BINDTODEVICE) */
  ifname?: string;
  /** how long to wait for a reply, 1..60000 ms (default 1000) */
  timeoutMs?: number;
  /** echo requests spread over the timeout, 1..64 (default 4) */
  count?: number;
}
export interface IcmpEchoResult {
  sent: number;
  /** 0 when nothing answered in time, else 1 (it stops at the first reply) */
  received: number;
  rttMs?: number;
}

/**
 * ICMP/ICMPv6 echo from inside the netns at path `netns` (e.g. /proc/123/ns/net, /run/netns/x):
 * a raw socket created in that netns on a pool thread (which is busy until the first reply or the
 * timeout). Resolves `received: 0` when nothing answered; throws {@link NativeError} when a
 * syscall fails (ENOENT open for a missing netns, ENODEV for a missing interface, EPERM without
 * CAP_NET_RAW).
 *
 *   const r = await icmpEcho("/run/netns/nsc", { dst: "172.16.1.100", ifname: "nsm-1", timeoutMs: 1000 });
 */
export async function icmpEcho(netns: string, o: IcmpEchoOptions): Promise<IcmpEchoResult> {
  const a = load();
  if (!a.icmpEcho) throw new Error("native addon has no icmpEcho: rebuild it (npm run build:native)");
  try {
    return await a.icmpEcho(netns, o);
  } catch (e) {
    throw NativeError.from(e);
  }
}

/**
 * Sends the rtnetlink messages packed in `batch` (whole nlmsghdr frames, seq/pid filled in here)
 * one at a time inside the netns `nsFd` on a worker thread; the thread enters that netns only to
 * create its socket. Stops at the first refused message unless `keepGoing`. Kernel refusals are
 * reported per message in `errors` (this resolves); only a failure to reach the netns (setns,
 * socket) rejects, with a {@link NativeError}. `nsFd` must stay open until this settles.
 * `ownThread` runs it on a thread of its own instead of libuv's (4-thread) pool: for messages
 * that sleep in the kernel (a veth delete waits ~20 ms for an RCU grace period), so that they
 * do not hold pool threads other netlink and fs work queue behind.
 */
export async function nlExec(
  nsFd: number,
  batch: Uint8Array,
  fixups: readonly NlFixup[] = [],
  opts: { keepGoing?: boolean; ownThread?: boolean } = {},
): Promise<NlExecResult> {
  const a = load();
  if (!a.nlExec) throw new Error('nsm_native.node is out of date (no nlExec); run "npm run build:native"');
  try {
    return await a.nlExec(nsFd, batch, fixups, {
      keepGoing: opts.keepGoing ?? false,
      ownThread: opts.ownThread ?? false,
    });
  } catch (e) {
    throw NativeError.from(e);
  }
}
