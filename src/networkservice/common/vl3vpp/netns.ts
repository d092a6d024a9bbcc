/**
 * The VPP vL3 endpoint's own network namespace, set up once before its router starts.
 */
import { writeFileSync } from "node:fs";
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
