/** Links read back from rtnetlink (RTM_NEWLINK dumps and replies) as plain readonly data. */
import { formatIp } from "./ip.js";
import * as nl from "./netlink.js";
import type { Link, LinkStats } from "./link.js";

const OPER = ["unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"];

function decodeStats(b: Buffer | undefined): LinkStats | undefined {
  if (!b || b.length < 80) return undefined;
  const u = (i: number): bigint => b.readBigUInt64LE(i * 8);
  return {
    rxPackets: u(0),
    txPackets: u(1),
    rxBytes: u(2),
    txBytes: u(3),
    rxErrors: u(4),
    txErrors: u(5),
    rxDropped: u(6),
    txDropped: u(7),
    multicast: u(8),
    collisions: u(9),
  };
}

/** Decodes the RTM_NEWLINK messages of a dump or get reply. */
/** index → name of every link in a dump, reading nothing but IFLA_IFNAME (cheap: no stats, no nests). */
export function decodeLinkNames(reply: Uint8Array | null): Map<number, string> {
  const names = new Map<number, string>();
  if (!reply) return names;
  for (const f of nl.parseFrames(reply)) {
    if (f.type !== nl.RTM_NEWLINK || f.data.length < 16) continue;
    const name = nl.findAttr(f.data, 16, nl.IFLA_IFNAME);
    if (name) names.set(f.data.readInt32LE(4), nl.attrStr(name) ?? "");
  }
  return names;
}

/** ifi_index of the first link in a reply (RTM_GETLINK by name), or undefined. */
export function linkIndexOf(reply: Uint8Array | null): number | undefined {
  if (!reply) return undefined;
  const f = nl.parseFrames(reply).find((x) => x.type === nl.RTM_NEWLINK && x.data.length >= 16);
  return f?.data.readInt32LE(4);
}

export function decodeLinks(reply: Uint8Array | null): Link[] {
  if (!reply) return [];
  const out: Link[] = [];
  for (const f of nl.parseFrames(reply)) {
    if (f.type !== nl.RTM_NEWLINK || f.data.length < 16) continue;
    const index = f.data.readInt32LE(4),
      flags = f.data.readUInt32LE(8);
    const at = nl.parseAttrs(f.data, 16);
    const info = at.get(nl.IFLA_LINKINFO);
    const li = info ? nl.parseAttrs(info) : undefined;
    const kind = nl.attrStr(li?.get(nl.IFLA_INFO_KIND)) ?? "device";
    const alias = nl.attrStr(at.get(nl.IFLA_IFALIAS));
    const master = nl.attrU32(at.get(nl.IFLA_MASTER));
    const link: { -readonly [K in keyof Link]: Link[K] } = {
      kind,
      attrs: {
        name: nl.attrStr(at.get(nl.IFLA_IFNAME)) ?? "",
        index,
        mtu: nl.attrU32(at.get(nl.IFLA_MTU)) ?? 0,
        mac: nl.attrMac(at.get(nl.IFLA_ADDRESS)) ?? "",
        up: (flags & nl.IFF_UP) !== 0,
        lowerUp: (flags & nl.IFF_LOWER_UP) !== 0,
        flags,
        operState: OPER[nl.attrU8(at.get(nl.IFLA_OPERSTATE)) ?? 0] ?? "unknown",
        group: nl.attrU32(at.get(nl.IFLA_GROUP)) ?? 0,
        ...(alias !== undefined ? { alias } : {}),
        ...(master !== undefined && master > 0 ? { masterIndex: master } : {}),
      },
    };
    const stats = decodeStats(at.get(nl.IFLA_STATS64));
    if (stats) link.stats = stats;
    const peer = nl.attrU32(at.get(nl.IFLA_LINK));
    if (kind === "veth" && peer !== undefined) link.peerIndex = peer;
    if (kind === "vxlan" && li?.get(nl.IFLA_INFO_DATA)) {
      const d = nl.parseAttrs(li.get(nl.IFLA_INFO_DATA)!);
      const local = d.get(nl.IFLA_VXLAN_LOCAL) ?? d.get(nl.IFLA_VXLAN_LOCAL6);
      const remote = d.get(nl.IFLA_VXLAN_GROUP) ?? d.get(nl.IFLA_VXLAN_GROUP6);
      const underlay = nl.attrU32(d.get(nl.IFLA_VXLAN_LINK));
      link.vxlan = {
        vni: nl.attrU32(d.get(nl.IFLA_VXLAN_ID)) ?? 0,
        port: d.get(nl.IFLA_VXLAN_PORT)?.readUInt16BE(0) ?? 4789,
        ...(local ? { local: formatIp(local) } : {}),
        ...(remote ? { remote: formatIp(remote) } : {}),
        ...(underlay ? { underlayIndex: underlay } : {}),
      };
    }
    out.push(link);
  }
  return out;
}
