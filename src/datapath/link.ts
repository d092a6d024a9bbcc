/**
 * Links: what can be created (veth, vxlan, bridge, tap), changed and read back, plus their
 * rtnetlink encodings. A {@link Link} read from the kernel is plain readonly data.
 */
import { DatapathError } from "./errors.js";
import { parseIp, parseMac } from "./ip.js";
import * as nl from "./netlink.js";
import { isNetnsHandle, resolveRef, type NetnsHandle, type NetnsRef } from "./ref.js";

/** Attributes common to every link kind, as given when creating one. */
export interface LinkAttrs {
  /** 1..15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace. */
  readonly name: string;
  readonly mtu?: number;
  /** "aa:bb:cc:dd:ee:ff"; default: random from the kernel. */
  readonly mac?: string;
  /** Bring the link up as part of its creation. */
  readonly up?: boolean;
  /** Name of a bridge to enslave the link to. */
  readonly master?: string;
  /** IFLA_IFALIAS (free text, ≤ 255 bytes). */
  readonly alias?: string;
  /** Link group (IFLA_GROUP), e.g. to delete many at once with `ip link del group N`. */
  readonly group?: number;
}

/** The other end of a veth pair; created directly in `netns` when given (no create-then-move). */
export interface VethPeer {
  readonly name: string;
  /** Target netns: an open {@link Netns} (its fd is used) or a reference opened at that step. */
  readonly netns?: NetnsHandle | NetnsRef;
  readonly mtu?: number;
  readonly mac?: string;
  readonly up?: boolean;
}

export type LinkSpec =
  | { readonly kind: "veth"; readonly attrs: LinkAttrs; readonly peer: VethPeer }
  | {
      readonly kind: "vxlan";
      readonly attrs: LinkAttrs;
      /** 0..16777215 */
      readonly vni: number;
      /** Local tunnel address (v4 or v6). */
      readonly local?: string;
      /** Remote tunnel address (unicast); same family as `local`. */
      readonly remote?: string;
      /** UDP destination port; default 4789. */
      readonly port?: number;
      /** Underlay device name (IFLA_VXLAN_LINK). */
      readonly underlay?: string;
      readonly learning?: boolean;
      readonly ttl?: number;
      /**
       * Create the device in this netns while its UDP socket stays in the batch's netns
       * (`ip link add NAME netns X type vxlan`; IFLA_NET_NS_FD at the top level). Its alias is set
       * there, and an undo deletes it there.
       */
      readonly netns?: NetnsHandle | NetnsRef;
    }
  | { readonly kind: "bridge"; readonly attrs: LinkAttrs }
  | {
      readonly kind: "tap";
      readonly attrs: LinkAttrs;
      /** "tap" (ethernet, default) or "tun" (IP). */
      readonly mode?: "tap" | "tun";
      readonly owner?: number;
      readonly group?: number;
      readonly multiQueue?: boolean;
      readonly vnetHdr?: boolean;
    };

/** Changes to an existing link; only the given fields change. */
export interface LinkChange {
  readonly up?: boolean;
  readonly mtu?: number;
  /** Rename (the kernel refuses while the link is up: EBUSY). */
  readonly name?: string;
  readonly mac?: string;
  readonly alias?: string;
  /** Bridge to enslave to, or null to release from its bridge. */
  readonly master?: string | null;
  /** Move the link to another netns. */
  readonly netns?: NetnsHandle | NetnsRef;
}

/** 64-bit interface counters (IFLA_STATS64). */
export interface LinkStats {
  readonly rxPackets: bigint;
  readonly txPackets: bigint;
  readonly rxBytes: bigint;
  readonly txBytes: bigint;
  readonly rxErrors: bigint;
  readonly txErrors: bigint;
  readonly rxDropped: bigint;
  readonly txDropped: bigint;
  readonly multicast: bigint;
  readonly collisions: bigint;
}

/** A link as the kernel reports it. */
export interface Link {
  /** IFLA_INFO_KIND ("veth", "vxlan", "bridge", "tun", ...) or "device" when there is none. */
  readonly kind: string;
  readonly attrs: {
    readonly name: string;
    readonly index: number;
    readonly mtu: number;
    readonly mac: string;
    /** Administratively up (IFF_UP). */
    readonly up: boolean;
    /** Carrier (IFF_LOWER_UP). */
    readonly lowerUp: boolean;
    readonly flags: number;
    readonly operState: string;
    readonly alias?: string;
    readonly masterIndex?: number;
    readonly group: number;
  };
  /** veth: the peer's ifindex (in the peer's netns). */
  readonly peerIndex?: number;
  readonly vxlan?: {
    readonly vni: number;
    readonly local?: string;
    readonly remote?: string;
    readonly port: number;
    readonly underlayIndex?: number;
  };
  readonly stats?: LinkStats;
}

const BAD_NAME = /[\s/:]/;

/** Throws DatapathError EINVAL unless `name` is a valid interface name. */
export function checkIfname(name: unknown, what = "link name"): string {
  if (typeof name !== "string" || name.length === 0)
    throw DatapathError.invalid(`invalid ${what} ${JSON.stringify(name)}: empty`);
  const bytes = Buffer.byteLength(name);
  if (bytes > 15) throw DatapathError.invalid(`invalid ${what} "${name}": ${bytes} bytes, at most 15 (IFNAMSIZ - 1)`);
  if (BAD_NAME.test(name) || name === "." || name === "..") {
    throw DatapathError.invalid(`invalid ${what} "${name}": no '/', ':' or whitespace`);
  }
  return name;
}

function checkInt(v: unknown, lo: number, hi: number, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw DatapathError.invalid(`invalid ${what} ${JSON.stringify(v)}: must be an integer in ${lo}..${hi}`);
  }
  return v;
}

/** What a message-level error should say: "veth nsm-1a (peer nsm-1b in /run/netns/y)". */
export function describeSpec(l: LinkSpec): string {
  if (l.kind === "veth") {
    const where =
      l.peer.netns === undefined
        ? ""
        : ` in ${isNetnsHandle(l.peer.netns) ? l.peer.netns.name : safeRefName(l.peer.netns)}`;
    return `veth ${l.attrs.name} (peer ${l.peer.name}${where})`;
  }
  if (l.kind === "vxlan") {
    const where = l.netns === undefined ? "" : ` into ${isNetnsHandle(l.netns) ? l.netns.name : safeRefName(l.netns)}`;
    return `vxlan ${l.attrs.name} (vni ${l.vni})${where}`;
  }
  return `${l.kind} ${l.attrs.name}`;
}

function safeRefName(r: NetnsRef): string {
  try {
    return resolveRef(r).name;
  } catch {
    return JSON.stringify(r);
  }
}

/** Sends `m` to another netns: a handle's fd, or a reference's path opened at send time. */
export function targetAt(m: nl.NlMsg, t: NetnsHandle | NetnsRef): nl.NlMsg {
  return isNetnsHandle(t) ? m.target({ fd: t.fd }) : m.target({ path: resolveRef(t).path });
}

/** Adds IFLA_NET_NS_FD for a netns: a handle's fd now, or a reference opened at send time. */
function netnsAttr(m: nl.NlMsg, target: NetnsHandle | NetnsRef, handles: NetnsHandle[]): void {
  if (isNetnsHandle(target)) {
    handles.push(target);
    m.u32(nl.IFLA_NET_NS_FD, target.fd);
  } else {
    m.nsfdAttr(nl.IFLA_NET_NS_FD, resolveRef(target).path);
  }
}

export function validateAttrs(a: LinkAttrs): void {
  if (typeof a !== "object" || a === null) throw DatapathError.invalid("link attrs missing");
  checkIfname(a.name);
  if (a.mtu !== undefined) checkInt(a.mtu, 68, 65535, `MTU for ${a.name}`);
  if (a.mac !== undefined) parseMac(a.mac, `MAC for ${a.name}`);
  if (a.master !== undefined) checkIfname(a.master, `master of ${a.name}`);
  if (a.alias !== undefined && Buffer.byteLength(a.alias) > 255)
    throw DatapathError.invalid(`alias of ${a.name} is over 255 bytes`);
  if (a.group !== undefined) checkInt(a.group, 0, 0xffffffff, `group of ${a.name}`);
}

/** Checks a spec; throws DatapathError EINVAL naming the bad field. */
export function validateSpec(l: LinkSpec): void {
  if (typeof l !== "object" || l === null) throw DatapathError.invalid("link spec missing");
  validateAttrs(l.attrs);
  switch (l.kind) {
    case "veth":
      if (typeof l.peer !== "object" || l.peer === null)
        throw DatapathError.invalid(`veth ${l.attrs.name}: peer missing`);
      checkIfname(l.peer.name, "veth peer name");
      if (l.peer.mtu !== undefined) checkInt(l.peer.mtu, 68, 65535, `MTU for ${l.peer.name}`);
      if (l.peer.mac !== undefined) parseMac(l.peer.mac, `MAC for ${l.peer.name}`);
      if (l.peer.netns !== undefined && !isNetnsHandle(l.peer.netns)) resolveRef(l.peer.netns);
      if (l.peer.netns === undefined && l.peer.name === l.attrs.name) {
        throw DatapathError.invalid(`veth ${l.attrs.name}: peer has the same name in the same netns`);
      }
      break;
    case "vxlan": {
      checkInt(l.vni, 0, 0xffffff, `VNI for ${l.attrs.name}`);
      if (l.port !== undefined) checkInt(l.port, 1, 65535, `port for ${l.attrs.name}`);
      if (l.ttl !== undefined) checkInt(l.ttl, 0, 255, `ttl for ${l.attrs.name}`);
      const local = l.local === undefined ? undefined : parseIp(l.local, `local address of ${l.attrs.name}`);
      const remote = l.remote === undefined ? undefined : parseIp(l.remote, `remote address of ${l.attrs.name}`);
      if (local && remote && local.family !== remote.family) {
        throw DatapathError.invalid(
          `vxlan ${l.attrs.name}: local ${l.local} is IPv${local.family} but remote ${l.remote} is IPv${remote.family}`,
        );
      }
      if (l.underlay !== undefined) checkIfname(l.underlay, `underlay of ${l.attrs.name}`);
      if (l.netns !== undefined && !isNetnsHandle(l.netns)) resolveRef(l.netns);
      break;
    }
    case "bridge":
      break;
    case "tap":
      if (l.mode !== undefined && l.mode !== "tap" && l.mode !== "tun")
        throw DatapathError.invalid(`tap ${l.attrs.name}: mode must be "tap" or "tun"`);
      if (l.owner !== undefined) checkInt(l.owner, 0, 0x7fffffff, `owner of ${l.attrs.name}`);
      if (l.group !== undefined) checkInt(l.group, 0, 0x7fffffff, `group of ${l.attrs.name}`);
      break;
    default:
      throw DatapathError.invalid(`unsupported link kind ${JSON.stringify((l as { kind: unknown }).kind)}`);
  }
}

/** The local message setting ethtool value `cmd` to `data` on link `name` (in the batch's netns). */
export function encodeEthtoolSet(name: string, cmd: number, data: number): nl.NlMsg {
  const b = Buffer.alloc(8 + 16);
  b.writeUInt32LE(cmd, 0);
  b.writeUInt32LE(data, 4);
  b.write(name, 8, "utf8");
  return new nl.NlMsg(nl.NSM_ETHTOOL, nl.NLM_F_REQUEST).struct(b);
}

const CREATE = nl.NLM_F_REQUEST | nl.NLM_F_ACK | nl.NLM_F_CREATE | nl.NLM_F_EXCL;
const CHANGE = nl.NLM_F_REQUEST | nl.NLM_F_ACK;

/** Messages that create `l`; `handles` collects netns handles whose fds the messages use. */
export function encodeLinkAdd(l: LinkSpec, handles: NetnsHandle[]): nl.NlMsg[] {
  const a = l.attrs;
  const out: nl.NlMsg[] = [];
  if (l.kind === "tap") {
    // rtnetlink cannot create tun/tap; nsm_native does TUNSETIFF + TUNSETPERSIST in the netns.
    const m = new nl.NlMsg(nl.NSM_TAP_ADD, nl.NLM_F_REQUEST);
    const b = Buffer.alloc(12 + 16);
    let flags = (l.mode === "tun" ? nl.IFF_TUN : nl.IFF_TAP) | nl.IFF_NO_PI;
    if (l.multiQueue) flags |= nl.IFF_MULTI_QUEUE;
    if (l.vnetHdr) flags |= nl.IFF_VNET_HDR;
    b.writeUInt16LE(flags, 0);
    b.writeInt32LE(l.owner ?? -1, 4);
    b.writeInt32LE(l.group ?? -1, 8);
    b.write(a.name, 12, "utf8");
    out.push(m.struct(b));
    // Everything else (mtu, mac, master, up, alias) is an ordinary change afterwards.
    const change: { -readonly [K in keyof LinkChange]: LinkChange[K] } = {};
    if (a.mtu !== undefined) change.mtu = a.mtu;
    if (a.mac !== undefined) change.mac = a.mac;
    if (a.master !== undefined) change.master = a.master;
    if (a.alias !== undefined) change.alias = a.alias;
    if (a.up !== undefined) change.up = a.up;
    if (Object.keys(change).length) out.push(encodeLinkSet(a.name, change, handles));
    return out;
  }
  const m = new nl.NlMsg(nl.RTM_NEWLINK, CREATE).struct(
    nl.ifinfomsg({ flags: a.up ? nl.IFF_UP : 0, change: a.up ? nl.IFF_UP : 0 }),
  );
  m.str(nl.IFLA_IFNAME, a.name);
  if (a.mtu !== undefined) m.u32(nl.IFLA_MTU, a.mtu);
  if (a.mac !== undefined) m.attr(nl.IFLA_ADDRESS, parseMac(a.mac));
  if (a.group !== undefined) m.u32(nl.IFLA_GROUP, a.group);
  if (a.master !== undefined) m.ifindexAttr(nl.IFLA_MASTER, a.master);
  // vxlan born in another netns: its UDP socket stays in the netns this message is sent to
  if (l.kind === "vxlan" && l.netns !== undefined) netnsAttr(m, l.netns, handles);
  m.begin(nl.IFLA_LINKINFO).str(nl.IFLA_INFO_KIND, l.kind);
  if (l.kind === "veth") {
    const p = l.peer;
    m.begin(nl.IFLA_INFO_DATA).begin(nl.VETH_INFO_PEER);
    m.struct(nl.ifinfomsg({}));
    m.str(nl.IFLA_IFNAME, p.name);
    if (p.mtu !== undefined) m.u32(nl.IFLA_MTU, p.mtu);
    if (p.mac !== undefined) m.attr(nl.IFLA_ADDRESS, parseMac(p.mac));
    // create in the target netns: ~0.4 ms vs ~16 ms for create + move
    if (p.netns !== undefined) netnsAttr(m, p.netns, handles);
    m.end().end();
  } else if (l.kind === "vxlan") {
    m.begin(nl.IFLA_INFO_DATA).u32(nl.IFLA_VXLAN_ID, l.vni);
    if (l.local !== undefined) {
      const ip = parseIp(l.local);
      m.attr(ip.family === 4 ? nl.IFLA_VXLAN_LOCAL : nl.IFLA_VXLAN_LOCAL6, ip.bytes);
    }
    if (l.remote !== undefined) {
      const ip = parseIp(l.remote);
      m.attr(ip.family === 4 ? nl.IFLA_VXLAN_GROUP : nl.IFLA_VXLAN_GROUP6, ip.bytes);
    }
    if (l.underlay !== undefined) m.ifindexAttr(nl.IFLA_VXLAN_LINK, l.underlay);
    m.u16be(nl.IFLA_VXLAN_PORT, l.port ?? 4789);
    if (l.learning !== undefined) m.u8(nl.IFLA_VXLAN_LEARNING, l.learning ? 1 : 0);
    if (l.ttl !== undefined) m.u8(nl.IFLA_VXLAN_TTL, l.ttl);
    m.end();
  }
  m.end();
  out.push(m);
  if (l.kind === "veth" && l.peer.up) {
    // A veth peer cannot be opened before its pair is complete (ENOTCONN), so it goes up in a
    // second message, sent to the peer's netns.
    const up = encodeLinkSet(l.peer.name, { up: true }, handles);
    const t = l.peer.netns;
    if (t !== undefined) {
      if (isNetnsHandle(t)) up.target({ fd: t.fd });
      else up.target({ path: resolveRef(t).path });
    }
    out.push(up);
  }
  // The kernel ignores IFLA_IFALIAS when creating; set it right after (where the link now is).
  if (a.alias !== undefined) {
    const set = encodeLinkSet(a.name, { alias: a.alias }, handles);
    if (l.kind === "vxlan" && l.netns !== undefined) targetAt(set, l.netns);
    out.push(set);
  }
  return out;
}

export function validateChange(name: string, c: LinkChange): void {
  checkIfname(name);
  if (typeof c !== "object" || c === null) throw DatapathError.invalid(`link change for ${name} missing`);
  if (c.mtu !== undefined) checkInt(c.mtu, 68, 65535, `MTU for ${name}`);
  if (c.name !== undefined) checkIfname(c.name, `new name for ${name}`);
  if (c.mac !== undefined) parseMac(c.mac, `MAC for ${name}`);
  if (c.alias !== undefined && Buffer.byteLength(c.alias) > 255)
    throw DatapathError.invalid(`alias of ${name} is over 255 bytes`);
  if (c.master !== undefined && c.master !== null) checkIfname(c.master, `master of ${name}`);
  if (c.netns !== undefined && !isNetnsHandle(c.netns)) resolveRef(c.netns);
}

/** One RTM_NEWLINK changing link `name` (looked up by name in the target netns at send time). */
export function encodeLinkSet(name: string, c: LinkChange, handles: NetnsHandle[]): nl.NlMsg {
  const up = c.up === undefined ? 0 : nl.IFF_UP;
  const m = new nl.NlMsg(nl.RTM_NEWLINK, CHANGE).struct(nl.ifinfomsg({ flags: c.up ? nl.IFF_UP : 0, change: up }));
  m.ifindexAt(nl.STRUCT_OFFSET + nl.IFINFO_INDEX, name);
  if (c.name !== undefined) m.str(nl.IFLA_IFNAME, c.name);
  if (c.mtu !== undefined) m.u32(nl.IFLA_MTU, c.mtu);
  if (c.mac !== undefined) m.attr(nl.IFLA_ADDRESS, parseMac(c.mac));
  if (c.alias !== undefined) m.str(nl.IFLA_IFALIAS, c.alias);
  if (c.master === null) m.u32(nl.IFLA_MASTER, 0);
  else if (c.master !== undefined) m.ifindexAttr(nl.IFLA_MASTER, c.master);
  if (c.netns !== undefined) netnsAttr(m, c.netns, handles);
  return m;
}

export function encodeLinkDel(name: string): nl.NlMsg {
  return new nl.NlMsg(nl.RTM_DELLINK, CHANGE)
    .struct(nl.ifinfomsg({}))
    .ifindexAt(nl.STRUCT_OFFSET + nl.IFINFO_INDEX, name);
}

/** RTM_DELLINK by group: the kernel deletes every link of the group in one go (one RCU wait). */
export function encodeLinkDelGroup(group: number): nl.NlMsg {
  return new nl.NlMsg(nl.RTM_DELLINK, CHANGE).struct(nl.ifinfomsg({})).u32(nl.IFLA_GROUP, group);
}

export function encodeLinkDump(): nl.NlMsg {
  return new nl.NlMsg(nl.RTM_GETLINK, nl.NLM_F_REQUEST | nl.NLM_F_DUMP).struct(nl.ifinfomsg({}));
}

export function encodeLinkGet(name: string): nl.NlMsg {
  return new nl.NlMsg(nl.RTM_GETLINK, CHANGE).struct(nl.ifinfomsg({})).str(nl.IFLA_IFNAME, name);
}

export { decodeLinkNames, decodeLinks, linkIndexOf } from "./link-decode.js";
