/**
 * Where a vL3 endpoint routes: the part of `nsm nse-vl3` that differs between its datapaths
 * (NSM_VL3_DATAPATH). The address plan, DNS names, MTU and the mesh of peers are the same
 * elements for both; a datapath only puts our address S somewhere, adds the elements that route
 * each connection, and says where our DNS server is reached.
 *
 * - kernel: our namespace routes (IP forwarding on), S on `lo`; the forwarder puts each
 *   connection's addresses and routes on its interface, so no element is needed; DNS on S.
 * - vpp: a VPP of our own routes (components/vl3-vpp.ts).
 */
import type { ClientElement, ServerElement } from "../../core/index.js";
import { Netns } from "../../datapath/index.js";
import { messageOf } from "../../core/index.js";
import { writeFileSync } from "node:fs";
import type { Logger } from "../../tools/log.js";
import { kernelLivenessCheck, type LivenessCheck } from "../common/heal/liveness.js";
import type { Vl3Pool } from "../utils/vl3pool.js";

export type Vl3DatapathKind = "kernel" | "vpp";

export interface Vl3Datapath {
  /** our addresses S moved (one per pool, "a.b.c.d/32"; `was` the previous ones) */
  setSelf(now: readonly string[], was: readonly string[]): Promise<void>;
  /** after the vL3 elements and the mechanisms in the endpoint's chain */
  readonly serverElements: readonly ServerElement[];
  /** in the client chain of our links to peers */
  readonly clientElements: readonly ClientElement[];
  /** the address our DNS server is reached at (from the first pool), once known */
  dnsIp(): string | undefined;
  /** heal's data-plane check of our links to peers (NSM_LIVENESS_CHECK_*): their S answers */
  livenessCheck(): LivenessCheck;
  close(): Promise<void>;
}

/** The kernel datapath: our namespace routes. */
export function kernelVl3Datapath(ns: Netns, pool: Vl3Pool, log: Logger, netnsUrl?: string): Vl3Datapath {
  for (const f of ["/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"])
    try {
      writeFileSync(f, "1");
    } catch (e) {
      log.warn({ file: f, err: messageOf(e) }, "vl3: cannot switch forwarding on");
    }
  return {
    async setSelf(now, was) {
      await ns.linkSet("lo", { up: true });
      const b = ns.batch();
      for (const a of now) b.addrReplace({ link: "lo", cidr: a });
      for (const a of was) if (!now.includes(a)) b.addrDel({ link: "lo", cidr: a });
      await b.commit();
    },
    serverElements: [],
    clientElements: [],
    dnsIp: () => (pool.ready ? pool.selfIp : undefined),
    // as an NSC's: from our S over the link's interface to the peer's S
    livenessCheck: () => kernelLivenessCheck({ netnsUrl, log }),
    close: async () => undefined,
  };
}
