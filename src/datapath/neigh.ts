/** Neighbours (ARP / NDP entries): add, replace, delete, dump. */
import { DatapathError } from "./errors.js";
import { formatIp, parseIp, parseMac } from "./ip.js";
import { checkIfname } from "./link.js";
import * as nl from "./netlink.js";

export type NeighState = "permanent" | "reachable" | "stale" | "noarp" | "delay" | "probe" | "failed" | "incomplete";

const STATES: Record<NeighState, number> = {
  permanent: nl.NUD_PERMANENT,
  reachable: nl.NUD_REACHABLE,
  stale: nl.NUD_STALE,
  noarp: nl.NUD_NOARP,
  delay: nl.NUD_DELAY,
  probe: nl.NUD_PROBE,
  failed: nl.NUD_FAILED,
  incomplete: nl.NUD_INCOMPLETE,
};

/** A neighbour entry to add, replace or delete. */
export interface Neigh {
  readonly link: string;
  readonly ip: string;
  /** Required to add; ignored on delete. */
  readonly mac?: string;
  /** Default "permanent". */
  readonly state?: NeighState;
}

export interface NeighInfo {
  readonly link: string;
  readonly index: number;
  readonly family: 4 | 6;
  readonly ip: string;
  readonly mac?: string;
  readonly state: NeighState | "none";
  readonly stateBits: number;
}

export function validateNeigh(n: Neigh, forAdd: boolean): void {
  if (typeof n !== "object" || n === null) throw DatapathError.invalid("neighbour missing");
  checkIfname(n.link, "neighbour link");
  parseIp(n.ip, `neighbour address on ${n.link}`);
  if (forAdd && n.mac === undefined) throw DatapathError.invalid(`neighbour ${n.ip} on ${n.link}: mac is required`);
  if (n.mac !== undefined) parseMac(n.mac, `neighbour MAC for ${n.ip}`);
  if (n.state !== undefined && !(n.state in STATES))
    throw DatapathError.invalid(`neighbour ${n.ip}: invalid state ${JSON.stringify(n.state)}`);
}

export function encodeNeigh(type: number, flags: number, n: Neigh): nl.NlMsg {
  const ip = parseIp(n.ip);
  const m = new nl.NlMsg(type, nl.NLM_F_REQUEST | nl.NLM_F_ACK | flags).struct(
    nl.ndmsg({
      family: ip.family === 4 ? nl.AF_INET : nl.AF_INET6,
      state: type === nl.RTM_DELNEIGH ? 0 : STATES[n.state ?? "permanent"],
      type: nl.RTN_UNICAST,
    }),
  );
  m.ifindexAt(nl.STRUCT_OFFSET + nl.NDMSG_INDEX, n.link);
  m.attr(nl.NDA_DST, ip.bytes);
  if (type !== nl.RTM_DELNEIGH && n.mac !== undefined) m.attr(nl.NDA_LLADDR, parseMac(n.mac));
  return m;
}

export function encodeNeighDump(): nl.NlMsg {
  return new nl.NlMsg(nl.RTM_GETNEIGH, nl.NLM_F_REQUEST | nl.NLM_F_DUMP).struct(nl.ndmsg({ family: nl.AF_UNSPEC }));
}

export function decodeNeighs(reply: Uint8Array | null, names: ReadonlyMap<number, string>): NeighInfo[] {
  if (!reply) return [];
  const out: NeighInfo[] = [];
  for (const f of nl.parseFrames(reply)) {
    if (f.type !== nl.RTM_NEWNEIGH || f.data.length < 12) continue;
    const af = f.data.readUInt8(0);
    if (af !== nl.AF_INET && af !== nl.AF_INET6) continue;
    const index = f.data.readInt32LE(4),
      bits = f.data.readUInt16LE(8);
    const at = nl.parseAttrs(f.data, 12);
    const dst = at.get(nl.NDA_DST);
    if (!dst) continue;
    const mac = nl.attrMac(at.get(nl.NDA_LLADDR));
    const state = (Object.entries(STATES) as [NeighState, number][]).find(([, v]) => (bits & v) !== 0)?.[0] ?? "none";
    out.push({
      link: names.get(index) ?? `if${index}`,
      index,
      family: af === nl.AF_INET ? 4 : 6,
      ip: formatIp(dst),
      state,
      stateBits: bits,
      ...(mac ? { mac } : {}),
    });
  }
  return out;
}
