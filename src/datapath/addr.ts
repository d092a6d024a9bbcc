/** Addresses: IPv4/IPv6 on a link (IPv6 with IFA_F_NODAD, usable at once), encode and decode. */
import { DatapathError } from "./errors.js";
import { cidrText, formatIp, parseCidr, parseIp } from "./ip.js";
import { checkIfname } from "./link.js";
import * as nl from "./netlink.js";

/** An address to add or delete: `cidr` is "addr/len" ("172.16.0.1/31", "fd00::1/64"). */
export interface Addr {
  readonly link: string;
  readonly cidr: string;
  /** Point-to-point peer (IFA_ADDRESS), same family. */
  readonly peer?: string;
  /** IPv4 broadcast address. */
  readonly broadcast?: string;
  /** IPv4 label (IFA_LABEL), must start with the link name. */
  readonly label?: string;
  /** IPv6: skip duplicate address detection; default true (usable without waiting). */
  readonly noDad?: boolean;
}

/** An address as the kernel reports it. */
export interface AddrInfo {
  readonly link: string;
  readonly index: number;
  readonly family: 4 | 6;
  /** "addr/len" with the address unmasked. */
  readonly cidr: string;
  readonly peer?: string;
  readonly scope: number;
  /** IFA_F_* flags. */
  readonly flags: number;
  readonly permanent: boolean;
  readonly tentative: boolean;
}

export function validateAddr(a: Addr): void {
  if (typeof a !== "object" || a === null) throw DatapathError.invalid("address missing");
  checkIfname(a.link, "address link");
  const c = parseCidr(a.cidr, `address CIDR for ${a.link}`, { requirePrefix: true });
  if (a.peer !== undefined) {
    const p = parseIp(a.peer, `peer address for ${a.link}`);
    if (p.family !== c.family)
      throw DatapathError.invalid(`address ${a.cidr} is IPv${c.family} but peer ${a.peer} is IPv${p.family}`);
  }
  if (a.broadcast !== undefined) {
    const b = parseIp(a.broadcast, `broadcast for ${a.link}`);
    if (c.family !== 4 || b.family !== 4)
      throw DatapathError.invalid(`broadcast ${a.broadcast} needs an IPv4 address and CIDR`);
  }
  if (a.label !== undefined && (c.family !== 4 || !a.label.startsWith(a.link) || Buffer.byteLength(a.label) > 15)) {
    throw DatapathError.invalid(
      `label ${JSON.stringify(a.label)}: IPv4 only, starts with "${a.link}", at most 15 bytes`,
    );
  }
}

export function encodeAddr(type: number, flags: number, a: Addr): nl.NlMsg {
  const c = parseCidr(a.cidr);
  const family = c.family === 4 ? nl.AF_INET : nl.AF_INET6;
  const m = new nl.NlMsg(type, nl.NLM_F_REQUEST | nl.NLM_F_ACK | flags).struct(
    nl.ifaddrmsg({ family, prefixlen: c.prefixLen }),
  );
  m.ifindexAt(nl.STRUCT_OFFSET + nl.IFADDR_INDEX, a.link);
  m.attr(nl.IFA_LOCAL, c.bytes);
  m.attr(nl.IFA_ADDRESS, a.peer !== undefined ? parseIp(a.peer).bytes : c.bytes);
  if (a.broadcast !== undefined) m.attr(nl.IFA_BROADCAST, parseIp(a.broadcast).bytes);
  if (a.label !== undefined) m.str(nl.IFA_LABEL, a.label);
  if (type === nl.RTM_NEWADDR && c.family === 6 && a.noDad !== false) m.u32(nl.IFA_FLAGS, nl.IFA_F_NODAD);
  return m;
}

export const addrText = (a: Addr): string => `${cidrText(parseCidr(a.cidr))} on ${a.link}`;

/** An address dump; with `family` the kernel dumps only that family. */
export function encodeAddrDump(family?: 4 | 6): nl.NlMsg {
  const af = family === 4 ? nl.AF_INET : family === 6 ? nl.AF_INET6 : nl.AF_UNSPEC;
  return new nl.NlMsg(nl.RTM_GETADDR, nl.NLM_F_REQUEST | nl.NLM_F_DUMP).struct(
    nl.ifaddrmsg({ family: af, prefixlen: 0 }),
  );
}

/** Decodes an address dump; with `onlyIndex`, frames of other links are skipped before their attributes are read. */
export function decodeAddrs(
  reply: Uint8Array | null,
  names: ReadonlyMap<number, string>,
  onlyIndex?: number,
): AddrInfo[] {
  if (!reply) return [];
  const out: AddrInfo[] = [];
  for (const f of nl.parseFrames(reply)) {
    if (f.type !== nl.RTM_NEWADDR || f.data.length < 8) continue;
    const index = f.data.readInt32LE(4);
    if (onlyIndex !== undefined && index !== onlyIndex) continue;
    const family = f.data.readUInt8(0) === nl.AF_INET ? 4 : 6;
    const prefixLen = f.data.readUInt8(1),
      scope = f.data.readUInt8(3);
    const at = nl.parseAttrs(f.data, 8);
    const local = at.get(nl.IFA_LOCAL),
      address = at.get(nl.IFA_ADDRESS);
    const own = local ?? address;
    if (!own) continue;
    const flags = nl.attrU32(at.get(nl.IFA_FLAGS)) ?? f.data.readUInt8(2);
    const peer = local && address && !local.equals(address) ? formatIp(address) : undefined;
    out.push({
      link: names.get(index) ?? `if${index}`,
      index,
      family,
      cidr: `${formatIp(own)}/${prefixLen}`,
      scope,
      flags,
      permanent: (flags & nl.IFA_F_PERMANENT) !== 0,
      tentative: (flags & nl.IFA_F_TENTATIVE) !== 0,
      ...(peer !== undefined ? { peer } : {}),
    });
  }
  return out;
}
