/** Routes: destination, gateway, device, source, metric and table; encode and decode. */
import { DatapathError } from "./errors.js";
import { cidrText, formatIp, maskCidr, parseCidr, parseIp, type Cidr, type Family } from "./ip.js";
import { checkIfname } from "./link.js";
import * as nl from "./netlink.js";

/** A route to add, replace or delete. */
export interface Route {
  /** "10.0.0.0/8", "fd00::/64", a bare address (host route), or "default" (needs `family` or `via`). */
  readonly dst: string;
  /** Gateway, same family as `dst`. */
  readonly via?: string;
  /** Output device name. */
  readonly dev?: string;
  /** Preferred source address (RTA_PREFSRC), same family. */
  readonly src?: string;
  /** Routing table id; default main (254). */
  readonly table?: number;
  /** Priority / metric. */
  readonly metric?: number;
  /** Gateway is on-link even if no address covers it (RTNH_F_ONLINK). */
  readonly onlink?: boolean;
  /** Scope; default "link" for a device route without gateway, else "universe". */
  readonly scope?: "universe" | "link" | "host";
  /** Needed for "default" without `via`. */
  readonly family?: Family;
}

/** A route as the kernel reports it. */
export interface RouteInfo {
  readonly family: Family;
  /** "default" or "addr/len". */
  readonly dst: string;
  readonly via?: string;
  readonly dev?: string;
  readonly devIndex?: number;
  readonly src?: string;
  readonly table: number;
  readonly metric?: number;
  readonly protocol: number;
  readonly scope: number;
  readonly type: number;
  readonly onlink: boolean;
}

interface Parsed {
  family: Family;
  dst: Cidr | undefined;
  via: Cidr | undefined;
  src: Cidr | undefined;
}

function parse(r: Route): Parsed {
  if (typeof r !== "object" || r === null) throw DatapathError.invalid("route missing");
  const isDefault = r.dst === "default";
  const dst = isDefault ? undefined : maskCidr(parseCidr(r.dst, "route destination"));
  const via = r.via === undefined ? undefined : { ...parseIp(r.via, "route gateway"), prefixLen: 0 };
  const src = r.src === undefined ? undefined : { ...parseIp(r.src, "route source"), prefixLen: 0 };
  const family = dst?.family ?? via?.family ?? r.family;
  if (family !== 4 && family !== 6) {
    throw DatapathError.invalid(`route "default" needs a gateway or family: 4 | 6`);
  }
  for (const [what, v] of [
    ["gateway", via],
    ["source", src],
  ] as const) {
    if (v && v.family !== family) {
      throw DatapathError.invalid(`route ${r.dst}: ${what} ${v.text} is IPv${v.family}, destination is IPv${family}`);
    }
  }
  if (r.family !== undefined && r.family !== family)
    throw DatapathError.invalid(`route ${r.dst}: family ${r.family} does not match IPv${family}`);
  return { family, dst, via, src };
}

export function validateRoute(r: Route, forAdd = true): void {
  parse(r);
  if (r.dev !== undefined) checkIfname(r.dev, "route device");
  if (forAdd && r.via === undefined && r.dev === undefined)
    throw DatapathError.invalid(`route ${r.dst}: needs a gateway (via) or a device (dev)`);
  if (r.table !== undefined && (!Number.isInteger(r.table) || r.table < 1 || r.table > 0xffffffff)) {
    throw DatapathError.invalid(`route ${r.dst}: invalid table ${String(r.table)}`);
  }
  if (r.metric !== undefined && (!Number.isInteger(r.metric) || r.metric < 0 || r.metric > 0xffffffff)) {
    throw DatapathError.invalid(`route ${r.dst}: invalid metric ${String(r.metric)}`);
  }
  if (r.scope !== undefined && !["universe", "link", "host"].includes(r.scope)) {
    throw DatapathError.invalid(`route ${r.dst}: invalid scope ${JSON.stringify(r.scope)}`);
  }
}

const SCOPES = { universe: nl.RT_SCOPE_UNIVERSE, link: nl.RT_SCOPE_LINK, host: nl.RT_SCOPE_HOST } as const;

export function encodeRoute(type: number, flags: number, r: Route): nl.NlMsg {
  const p = parse(r);
  const del = type === nl.RTM_DELROUTE;
  const table = r.table ?? nl.RT_TABLE_MAIN;
  const scope = del
    ? 255 /* RT_SCOPE_NOWHERE: any */
    : r.scope !== undefined
      ? SCOPES[r.scope]
      : p.via === undefined
        ? nl.RT_SCOPE_LINK
        : nl.RT_SCOPE_UNIVERSE;
  const m = new nl.NlMsg(type, nl.NLM_F_REQUEST | nl.NLM_F_ACK | flags).struct(
    nl.rtmsg({
      family: p.family === 4 ? nl.AF_INET : nl.AF_INET6,
      dstLen: p.dst?.prefixLen ?? 0,
      table: table < 256 ? table : nl.RT_TABLE_UNSPEC,
      protocol: del ? 0 : nl.RTPROT_BOOT,
      scope,
      type: nl.RTN_UNICAST,
      flags: r.onlink ? nl.RTNH_F_ONLINK : 0,
    }),
  );
  m.u32(nl.RTA_TABLE, table);
  if (p.dst && p.dst.prefixLen > 0) m.attr(nl.RTA_DST, p.dst.bytes);
  if (p.via) m.attr(nl.RTA_GATEWAY, p.via.bytes);
  if (r.dev !== undefined) m.ifindexAttr(nl.RTA_OIF, r.dev);
  if (p.src) m.attr(nl.RTA_PREFSRC, p.src.bytes);
  if (r.metric !== undefined) m.u32(nl.RTA_PRIORITY, r.metric);
  return m;
}

export function routeText(r: Route): string {
  let p: Parsed | undefined;
  try {
    p = parse(r);
  } catch {
    /* described as given */
  }
  const dst = p?.dst ? cidrText(p.dst) : String(r.dst);
  return [dst, r.via && `via ${r.via}`, r.dev && `dev ${r.dev}`, r.table && `table ${r.table}`]
    .filter(Boolean)
    .join(" ");
}

export function encodeRouteDump(): nl.NlMsg {
  return new nl.NlMsg(nl.RTM_GETROUTE, nl.NLM_F_REQUEST | nl.NLM_F_DUMP).struct(nl.rtmsg({ family: nl.AF_UNSPEC }));
}

export function decodeRoutes(reply: Uint8Array | null, names: ReadonlyMap<number, string>): RouteInfo[] {
  if (!reply) return [];
  const out: RouteInfo[] = [];
  for (const f of nl.parseFrames(reply)) {
    if (f.type !== nl.RTM_NEWROUTE || f.data.length < 12) continue;
    const af = f.data.readUInt8(0);
    if (af !== nl.AF_INET && af !== nl.AF_INET6) continue;
    const family: Family = af === nl.AF_INET ? 4 : 6;
    const dstLen = f.data.readUInt8(1);
    const at = nl.parseAttrs(f.data, 12);
    const dst = at.get(nl.RTA_DST);
    const gw = at.get(nl.RTA_GATEWAY),
      oif = nl.attrU32(at.get(nl.RTA_OIF)),
      src = at.get(nl.RTA_PREFSRC);
    const metric = nl.attrU32(at.get(nl.RTA_PRIORITY));
    const dev = oif !== undefined ? names.get(oif) : undefined;
    out.push({
      family,
      dst: dst
        ? `${formatIp(dst)}/${dstLen}`
        : dstLen === 0
          ? "default"
          : `${family === 4 ? "0.0.0.0" : "::"}/${dstLen}`,
      table: nl.attrU32(at.get(nl.RTA_TABLE)) ?? f.data.readUInt8(4),
      protocol: f.data.readUInt8(5),
      scope: f.data.readUInt8(6),
      type: f.data.readUInt8(7),
      onlink: (f.data.readUInt32LE(8) & nl.RTNH_F_ONLINK) !== 0,
      ...(gw ? { via: formatIp(gw) } : {}),
      ...(oif !== undefined ? { devIndex: oif } : {}),
      ...(dev !== undefined ? { dev } : {}),
      ...(src ? { src: formatIp(src) } : {}),
      ...(metric !== undefined ? { metric } : {}),
    });
  }
  return out;
}
