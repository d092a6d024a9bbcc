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
