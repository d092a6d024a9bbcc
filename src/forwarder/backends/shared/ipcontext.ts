/**
 * What each side's interface gets from a connection's IPContext (as upstream
 * `api/pkg/api/networkservice/connectioncontext_helpers.go` derives the route sets and
 * `sdk-kernel/pkg/kernel/networkservice/connectioncontextkernel` installs them):
 * the NSC side ("src") gets src addresses, link routes to dst addresses outside its own nets and
 * src_routes with the first dst IP as next hop; the NSE side ("dst") symmetrically.
 *
 *   plumbingOf(ctx, "src", "nsm-1") // { addrs: [{link, cidr: "10.0.0.1/32"}], routes: [{dst: "10.0.0.0/32", dev: "nsm-1"}] }
 */
import type { IPContext } from "../../../api/index.js";
import type { Addr } from "../../../datapath/addr.js";
import type { Route } from "../../../datapath/route.js";

export type SideOf = "src" | "dst";

interface Net {
  v6: boolean;
  addr: bigint;
  len: number;
  ip: string;
}

function parse(s: string): Net | undefined {
  const [ip, l] = s.trim().split("/") as [string, string | undefined];
  const v6 = ip.includes(":");
  let addr = 0n;
  if (!v6) {
    const o = ip.split(".").map(Number);
    if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return undefined;
    addr = o.reduce((a, x) => (a << 8n) | BigInt(x), 0n);
  } else {
    const [h, t] = ip.includes("::") ? (ip.split("::") as [string, string]) : [ip, undefined];
    const hs = h ? h.split(":") : [];
    const ts = t ? t.split(":") : [];
    const g = t === undefined ? hs : [...hs, ...Array<string>(8 - hs.length - ts.length).fill("0"), ...ts];
    if (g.length !== 8) return undefined;
    addr = g.reduce((a, x) => (a << 16n) | BigInt(parseInt(x || "0", 16)), 0n);
  }
  const bits = v6 ? 128 : 32;
  const len = l === undefined ? bits : Number(l);
  if (!Number.isInteger(len) || len < 0 || len > bits) return undefined;
  return { v6, addr, len, ip };
}

/** `p` lies wholly inside `n` */
function within(n: Net, p: Net): boolean {
  return n.len <= p.len && contains(n, p);
}

/** host bits cleared: upstream vL3 writes its global net as 172.16.1.0/16 */
function masked(p: Net): string {
  const bits = BigInt((p.v6 ? 128 : 32) - p.len);
  const a = (p.addr >> bits) << bits;
  if (a === p.addr) return `${p.ip}/${p.len}`;
  if (!p.v6) return `${[24n, 16n, 8n, 0n].map((s) => Number((a >> s) & 255n)).join(".")}/${p.len}`;
  const g = Array.from({ length: 8 }, (_, i) => Number((a >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  return `${g.join(":")}/${p.len}`;
}

function contains(n: Net, ip: Net): boolean {
  if (n.v6 !== ip.v6) return false;
  const host = BigInt((n.v6 ? 128 : 32) - n.len);
  return n.addr >> host === ip.addr >> host;
}

const hostRoute = (n: Net) => `${n.ip}/${n.v6 ? 128 : 32}`;

export interface SidePlumbing {
  addrs: Addr[];
  routes: Route[];
}

/** Addresses and routes for the interface `link` on side `side` of a connection. */
export function plumbingOf(ip: IPContext | undefined, side: SideOf, link: string): SidePlumbing {
  if (!ip) return { addrs: [], routes: [] };
  const own = (side === "src" ? ip.srcIpAddrs : ip.dstIpAddrs).map(parse).filter((x): x is Net => !!x);
  const far = (side === "src" ? ip.dstIpAddrs : ip.srcIpAddrs).map(parse).filter((x): x is Net => !!x);
  const extra = side === "src" ? ip.srcRoutes : ip.dstRoutes;
  const addrs: Addr[] = own.map((n) => ({ link, cidr: `${n.ip}/${n.len}` }));
  const routes = new Map<string, Route>();
  // link routes to the far end's addresses that none of our nets covers (DstIPRoutes / SrcIPRoutes)
  for (const f of far)
    if (!own.some((o) => contains(o, f))) routes.set(hostRoute(f), { dst: hostRoute(f), dev: link, scope: "link" });
  // src_routes / dst_routes: the first far IP of the family is the next hop, unless the prefix is inside a far net
  for (const r of extra) {
    const p = parse(r.prefix);
    if (!p) continue;
    const dst = masked(p);
    const hop = r.nextHop ? parse(r.nextHop) : far.find((f) => f.v6 === p.v6 && !far.some((x) => within(x, p)));
    if (!hop || far.some((x) => within(x, p))) {
      routes.set(dst, { dst, dev: link, scope: "link" });
    } else {
      routes.set(dst, { dst, via: hop.ip, dev: link, onlink: true });
    }
  }
  return { addrs, routes: [...routes.values()] };
}
