/**
 * The VPP vL3 endpoint's own network namespace: set up once before its router starts, and the
 * forwarder's addresses and routes taken off the kernel interfaces VPP reads.
 */
import { writeFileSync } from "node:fs";
import type { Netns } from "../../../datapath/index.js";
import type { Logger } from "../../../tools/log.js";

/**
 * In our namespace (root only): the kernel answers no ARP (VPP answers for S) and drops packets
 * whose source it would answer through another interface (a client's packet read from an L3
 * tunnel device, which VPP routes). IP forwarding stays off: VPP routes.
 */
export function prepareNetns(log: Logger): void {
  for (const [k, v] of [
    ["net/ipv4/conf/all/arp_ignore", "8"],
    ["net/ipv4/conf/default/arp_ignore", "8"],
    ["net/ipv4/conf/all/rp_filter", "1"],
    ["net/ipv4/conf/default/rp_filter", "1"],
    ["net/ipv4/ip_forward", "0"],
  ] as const)
    try {
      writeFileSync(`/proc/sys/${k}`, v);
    } catch (e) {
      log.warn({ sysctl: k, err: (e as Error).message }, "vl3 vpp: cannot set sysctl");
    }
}

/** the kernel's addresses (but link-local) and routes on `ifname`: the forwarder's, not wanted here */
export async function scrubLink(ns: Netns, ifname: string, log: Logger, retries = 2): Promise<void> {
  const addrs = (await ns.addrs({ link: ifname })).filter((x) => !x.cidr.startsWith("fe80:"));
  const routes = (await ns.routes({ dev: ifname })).filter(
    (r) => !r.dst.startsWith("fe80:") && !r.dst.startsWith("ff00:") && r.dst !== "default",
  );
  if (!addrs.length && !routes.length) return;
  const b = ns.batch();
  for (const r of routes)
    b.routeDel({
      dst: r.dst,
      dev: ifname,
      ...(r.via ? { via: r.via } : {}),
      ...(r.metric ? { metric: r.metric } : {}),
    });
  for (const x of addrs) b.addrDel({ link: ifname, cidr: x.cidr });
  await b.commit().catch((e: unknown) => {
    // a route went with its address, or the forwarder changed it meanwhile: read again and take
    // what is left (a change made after the dump also queues a pass of its own)
    log.debug({ ifname, err: (e as Error).message }, "vl3 vpp: scrub incomplete");
    if (retries > 0) return scrubLink(ns, ifname, log, retries - 1);
  });
}

/**
 * IPv6 has no `arp_ignore` nor `rp_filter`: the kernel answers neighbour solicitations for an
 * address on the interface they arrive on, and takes in packets for any of its addresses from
 * any interface. The forwarder puts S on each connection's interface (without DAD, usable at
 * once) before we take it off again, so a client soliciting S then may learn the kernel's MAC
 * instead of VPP's, and stay stuck on it. Instead the kernel drops every IPv6 packet that
 * arrives on an interface VPP reads (NDP included): a blackhole rule per such interface, put in
 * place as soon as we know its name (before the forwarder makes it). The `lookup local` rule
 * (priority 0, where the kernel's own addresses and multicast are found) moves behind them.
 */
export const KERNEL_OUT_PRIORITY = 100,
  LOCAL_RULE_PRIORITY = 1000;
const LOCAL_TABLE = 255;

/** moves IPv6 `lookup local` from priority 0 to LOCAL_RULE_PRIORITY in `ns` (again: no-op) */
export async function moveLocalRule6(ns: Netns): Promise<void> {
  await ns
    .batch()
    .ruleAdd({ family: 6, priority: LOCAL_RULE_PRIORITY, action: LOCAL_TABLE })
    .commit()
    .catch((e: unknown) => {
      if ((e as { code?: string }).code !== "EEXIST") throw e;
    });
  await ns
    .batch()
    .ruleDel({ family: 6, priority: 0, action: LOCAL_TABLE })
    .commit()
    .catch((e: unknown) => {
      if ((e as { code?: string }).code !== "ENOENT") throw e;
    });
}

/** the kernel drops IPv6 arriving on `ifname` (present or not); a second call is a no-op */
export async function kernelOut6(ns: Netns, ifname: string, out: boolean): Promise<void> {
  const rule = { family: 6, iif: ifname, priority: KERNEL_OUT_PRIORITY, action: "blackhole" } as const;
  await (out ? ns.batch().ruleAdd(rule) : ns.batch().ruleDel(rule)).commit().catch((e: unknown) => {
    if ((e as { code?: string }).code !== (out ? "EEXIST" : "ENOENT")) throw e;
  });
}

/**
 * The connections' kernel interfaces whose IPv6 our kernel drops ({@link kernelOut6}), by
 * connection key; the first one moves the `lookup local` rule ({@link moveLocalRule6}). Failures
 * are logged, not thrown (IPv4 does not need the rule).
 */
export class KernelIp6Guards {
  private readonly byKey = new Map<string, string>();
  private localMoved: Promise<void> | undefined;
  constructor(
    private readonly ns: Netns,
    private readonly log: Logger,
  ) {}

  async guard(key: string, ifname: string): Promise<void> {
    const had = this.byKey.get(key);
    if (had === ifname) return;
    if (had !== undefined) await this.unguard(key);
    try {
      await (this.localMoved ??= moveLocalRule6(this.ns));
      await kernelOut6(this.ns, ifname, true);
      this.byKey.set(key, ifname);
    } catch (e) {
      this.localMoved = undefined;
      this.log.warn(
        { key, ifname, err: (e as Error).message },
        "vl3 vpp: cannot keep the kernel out of IPv6 on the interface",
      );
    }
  }

  async unguard(key: string): Promise<void> {
    const ifname = this.byKey.get(key);
    if (ifname === undefined) return;
    this.byKey.delete(key);
    if ([...this.byKey.values()].includes(ifname)) return;
    await kernelOut6(this.ns, ifname, false).catch((e: unknown) =>
      this.log.debug({ key, ifname, err: (e as Error).message }, "vl3 vpp: IPv6 rule not removed"),
    );
  }

  async clear(): Promise<void> {
    for (const k of [...this.byKey.keys()]) await this.unguard(k);
  }
}
