/**
 * Mechanism classes, types and shared parameter keys (upstream
 * `api/pkg/api/networkservice/mechanisms/{cls,common}`; docs/api.md "Mechanisms"), plus helpers to find and
 * edit mechanisms inside a Mechanism, Connection or NetworkServiceRequest. All parameter values
 * are strings on the wire; parsers follow Go's strconv (bad input reads as 0/false, as upstream).
 */
import { createHash, randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { MechanismSchema } from "../gen/connection_pb.js";
import type { Connection, Mechanism } from "../gen/connection_pb.js";
import type { NetworkServiceRequest } from "../gen/networkservice_pb.js";

/** `Mechanism.cls` values. */
export const cls = { LOCAL: "LOCAL", REMOTE: "REMOTE" } as const;
export type MechanismCls = (typeof cls)[keyof typeof cls];

/** `Mechanism.type` values (there is no SRIOV type upstream: it is KERNEL or VFIO). */
export const mechType = {
  KERNEL: "KERNEL",
  MEMIF: "MEMIF",
  VFIO: "VFIO",
  NOOP: "NOOP",
  VXLAN: "VXLAN",
  WIREGUARD: "WIREGUARD",
  IPSEC: "IPSEC",
  SRV6: "SRV6",
  VLAN: "VLAN",
} as const;
export type MechanismType = (typeof mechType)[keyof typeof mechType];

/** Parameter keys shared by several mechanism types (upstream `mechanisms/common`). Case-sensitive. */
export const commonKeys = {
  SRC_IP: "src_ip",
  DST_IP: "dst_ip",
  SRC_PORT: "src_port",
  DST_PORT: "dst_port",
  ORIG_SRC_IP: "orig_src_ip",
  ORIG_DST_IP: "orig_dst_ip",
  NETNS_INODE: "netnsInode",
  NAME: "name",
  INODE_URL: "inodeURL",
  PCI_ADDRESS: "pciAddress",
  TOKEN_ID: "tokenID",
  MTU: "MTU",
} as const;

/** Something that carries mechanisms: a mechanism itself, a connection or a request. */
export type MechanismHolder = Mechanism | Connection | NetworkServiceRequest;

/** New mechanism message; `params` values are copied. */
export function newMechanism(c: string, type: string, params: Record<string, string> = {}): Mechanism {
  return create(MechanismSchema, { cls: c, type, parameters: { ...params } });
}

/**
 * Mechanisms of `type` (all if omitted) in `x`: the mechanism itself, a connection's chosen
 * mechanism, or a request's `connection.mechanism` followed by its `mechanismPreferences`.
 * Returned objects are the live ones (edit them in place).
 */
export function mechanismsOf(x: MechanismHolder | undefined, type?: string): Mechanism[] {
  if (!x) return [];
  let all: Mechanism[];
  switch (x.$typeName) {
    case "connection.Mechanism":
      all = [x];
      break;
    case "connection.Connection":
      all = x.mechanism ? [x.mechanism] : [];
      break;
    case "networkservice.NetworkServiceRequest":
      all = [...(x.connection?.mechanism ? [x.connection.mechanism] : []), ...x.mechanismPreferences];
      break;
  }
  return type === undefined ? all : all.filter((m) => m.type === type);
}

/** Parameter `key` of the first mechanism of `type` in `x` (see mechanismsOf), or undefined. */
export function getParam(x: MechanismHolder | undefined, type: string, key: string): string | undefined {
  for (const m of mechanismsOf(x, type)) if (key in m.parameters) return m.parameters[key];
  return undefined;
}

/**
 * Sets `key` on every mechanism of `type` in `x` (undefined deletes it); returns `x`.
 * With `keep`, a mechanism that already has a non-empty value is left alone.
 */
export function setParam<T extends MechanismHolder>(
  x: T,
  type: string,
  key: string,
  value: string | undefined,
  opts: { keep?: boolean } = {},
): T {
  for (const m of mechanismsOf(x, type)) {
    if (opts.keep && m.parameters[key]) continue;
    if (value === undefined) delete m.parameters[key];
    else m.parameters[key] = value;
  }
  return x;
}

/** Go strconv.ParseBool; anything else (or missing) is false. */
export function parseBool(s: string | undefined): boolean {
  return s !== undefined && ["1", "t", "T", "TRUE", "true", "True"].includes(s);
}

/** Go strconv.ParseUint(s, 10, bits); invalid or out of range is 0, as upstream getters read it. */
export function parseUint(s: string | undefined, bits: number): number {
  if (s === undefined || !/^[0-9]+$/.test(s)) return 0;
  const n = BigInt(s);
  return n < 1n << BigInt(bits) ? Number(n) : 0;
}

/** Linux IFNAMSIZ - 1: the longest interface name, in bytes. */
export const LINUX_IF_MAX_LENGTH = 15;
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** First 15 bytes of `name` (upstream truncates longer names; we never split a UTF-8 char). */
export function truncateIfname(name: string): string {
  let out = "";
  for (const ch of name) {
    if (Buffer.byteLength(out + ch) > LINUX_IF_MAX_LENGTH) break;
    out += ch;
  }
  return out;
}

// Upstream cuts the service name to 15-5 = 10 chars, then "-" and an id filling up to 15.
// We also replace bytes Linux or `ip` dislike ("/", spaces, non-ASCII) with "-".
function ifnamePrefix(prefix: string): string {
  return prefix.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, LINUX_IF_MAX_LENGTH - 5);
}

/**
 * Stable interface name for connection `connId`: `<prefix cut to 10>-<base62 id>`, exactly 15
 * bytes (15 id chars when `prefix` is empty). Same shape as upstream's
 * `nanoid.GenerateLinuxInterfaceName(service)`, but the id is derived from SHA-256(connId) so a
 * refresh or a restarted process gets the same name. `ifnameFor("icmp-responder", id)` →
 * `"icmp-respo-3fKq"`.
 */
export function ifnameFor(prefix: string, connId: string): string {
  const p = ifnamePrefix(prefix);
  const n = p ? LINUX_IF_MAX_LENGTH - p.length - 1 : LINUX_IF_MAX_LENGTH;
  let v = BigInt("0x" + createHash("sha256").update(connId).digest("hex"));
  let id = "";
  for (let i = 0; i < n; i++) {
    id += ALPHABET[Number(v % 62n)];
    v /= 62n;
  }
  return p ? `${p}-${id}` : id;
}

/** As upstream: `<prefix cut to 10>-<random base62>`, 15 bytes, from a cryptographic RNG (nanoid). */
export function randomIfname(prefix: string): string {
  const p = ifnamePrefix(prefix);
  const n = p ? LINUX_IF_MAX_LENGTH - p.length - 1 : LINUX_IF_MAX_LENGTH;
  let id = "";
  while (id.length < n) {
    for (const b of randomBytes(n * 2)) {
      const i = b & 63; // nanoid: mask, then reject indexes past the alphabet
      if (i < ALPHABET.length && id.length < n) id += ALPHABET[i];
    }
  }
  return p ? `${p}-${id}` : id;
}
