/**
 * Small pieces every backend uses to plumb one side of a cross connect: the alias that marks an
 * interface as ours, the KERNEL mechanism's interface name, the fingerprint of the addresses a
 * connection asks for (equal on refresh = nothing to do), one side's addresses and routes as batch
 * ops, and upstream's path-segment metric names.
 *
 *   const b = ns.batch().linkSet(ifname, { alias: aliasOf(x.id), up: true });
 *   await addSideOps(b, x, "src", ifname).commit({ signal: ctx.signal });
 */
import { kernel, type Mechanism } from "../../../api/index.js";
import type { Batch } from "../../../datapath/batch.js";
import type { CrossConnect } from "../../backend.js";
import { plumbingOf, type SideOf } from "./ipcontext.js";

/** The alias every interface we make carries; a backend never touches a link without it. */
export const aliasOf = (id: string): string => `nsm:${id}`;

/** The interface name a KERNEL mechanism asks for; throws naming the side (`what`) when it has none. */
export function ifnameOf(m: Mechanism, what: string): string {
  const n = kernel.ifnameOf(m);
  if (!n) throw new Error(`${what}: the KERNEL mechanism has no interface name (parameter "name")`);
  return n;
}

/** The connection context's MTU, 0 when it sets none. */
export const contextMtu = (x: CrossConnect): number => x.outgoing.context?.MTU || 0;

/** What the IPContext and MTU ask for, as a string: equal strings mean the same addresses, routes and MTU. */
export function ipFingerprint(x: CrossConnect, mtu: number | undefined = contextMtu(x)): string {
  const ip = x.outgoing.context?.ipContext;
  return JSON.stringify([
    ip?.srcIpAddrs,
    ip?.dstIpAddrs,
    ip?.srcRoutes?.map((r) => [r.prefix, r.nextHop]),
    ip?.dstRoutes?.map((r) => [r.prefix, r.nextHop]),
    mtu,
  ]);
}

/** Adds side `side`'s addresses and routes (from the connection's IPContext) for `ifname` to `b`. */
export function addSideOps(b: Batch, x: CrossConnect, side: SideOf, ifname: string): Batch {
  const p = plumbingOf(x.outgoing.context?.ipContext, side, ifname);
  for (const a of p.addrs) b.addrReplace(a);
  for (const r of p.routes) b.routeReplace(r);
  return b;
}

/** Interface counters in the forwarder's view: rx = what the workload sent us. */
export interface SideCounters {
  rxBytes: number | bigint;
  txBytes: number | bigint;
  rxPackets: number | bigint;
  txPackets: number | bigint;
  drops?: number | bigint;
}

/**
 * Writes one side's figures under upstream's path-segment metric names (`server_rx_bytes`,
 * `client_interface`, ...): "server" faces the NSC, "client" the NSE.
 */
export function putSideMetrics(
  out: Record<string, string>,
  side: "server" | "client",
  iface: string,
  s: SideCounters,
): void {
  out[`${side}_rx_bytes`] = String(s.rxBytes);
  out[`${side}_tx_bytes`] = String(s.txBytes);
  out[`${side}_rx_packets`] = String(s.rxPackets);
  out[`${side}_tx_packets`] = String(s.txPackets);
  if (s.drops !== undefined) out[`${side}_drops`] = String(s.drops);
  out[`${side}_interface`] = iface;
}
