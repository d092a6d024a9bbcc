/**
 * The VPP datapath of a vL3 endpoint (NSM_VL3_DATAPATH=vpp; upstream cmd-nse-vl3-vpp): a VPP of
 * our own (src/vpp/launch.ts, in our netns; or the one at NSM_VPP_API_SOCKET) routes between the
 * connections (common/vl3vpp: a VRF and a loopback carrying S per service, each connection's
 * interface read with af_packet, unnumbered to the loopback).
 *
 * DNS: our DNS server runs in node, in our netns, so clients must reach the kernel. A veth pair
 * joins the two: `vl3dns0` (kernel) carries our DNS address D, a host address of our prefix taken
 * from the pool as a client's would be (upstream's DNS address is likewise a client address: that
 * of a kernel connection the endpoint makes to itself); `vl3dns1` is read by VPP, in the first
 * service's VRF, with a host route to D. The kernel routes the vL3 net G via S over the pair.
 */
import { rmSync } from "node:fs";
import type { Netns } from "../../datapath/index.js";
import type { Route } from "../../datapath/route.js";
import { messageOf } from "../../core/index.js";
import { icmpEcho } from "../../native.js";
import type { Logger } from "../../tools/log.js";
import type { LivenessCheck } from "../common/heal/liveness.js";
import { VppClient } from "../../vpp/client.js";
import { launchVpp, type LaunchedVpp } from "../../vpp/launch.js";
import { makeVppRunDir, recordVppPid, removeStaleVppRunDirs } from "../../vpp/rundir.js";
import { vl3VppClient } from "../common/vl3vpp/client.js";
import { prepareNetns } from "../common/vl3vpp/netns.js";
import { VL3_VPP_MESSAGES, vppMacOf } from "../common/vl3vpp/ifaces.js";
import { Vl3VppRouter } from "../common/vl3vpp/router.js";
import { vl3VppServer } from "../common/vl3vpp/server.js";
import { formatAddr, network, parsePrefix } from "../utils/ip.js";
import type { Vl3Pool } from "../utils/vl3pool.js";
import type { Vl3Datapath } from "./vl3-datapath.js";

/** our VPP's run directory: `<tmpdir>/nsm-vl3-vpp-XXXXXX` (src/vpp/rundir.ts) */
export const VPP_RUN_DIR_PREFIX = "nsm-vl3-vpp-";

/** the DNS veth pair: kernel end, VPP end */
export const DNS_VETH = ["vl3dns0", "vl3dns1"] as const;
const DNS_ROUTE_METRIC = 100;

export interface VppVl3Options {
  ns: Netns;
  /** the first pool: our DNS address comes from it */
  pool: Vl3Pool;
  /** the service whose VRF the DNS pair joins (our first) */
  service: string;
  log: Logger;
  /** NSM_VPP_API_SOCKET: a VPP already running in our netns (default: start our own) */
  apiSocket?: string;
  /** set `prepareNetns`'s sysctls, which go to this process's netns (default true; false when `ns` is another) */
  sysctls?: boolean;
}

const masked = (cidr: string) => {
  const n = network(parsePrefix(cidr));
  return `${formatAddr(n.v6, n.addr)}/${n.len}`;
};

export async function vppVl3Datapath(o: VppVl3Options): Promise<Vl3Datapath> {
  const { ns, pool, log } = o;
  if (o.sysctls !== false) prepareNetns(log);
  const undo: (() => Promise<unknown>)[] = [];
  const unwind = async () => {
    for (const f of undo.reverse()) await f().catch(() => undefined);
  };
  try {
    let socket = o.apiSocket;
    let launched: LaunchedVpp | undefined;
    if (!socket) {
      // a SIGKILLed endpoint's VPP died with it, its run directory did not: take those of dead owners
      removeStaleVppRunDirs(VPP_RUN_DIR_PREFIX, log);
      const dir = makeVppRunDir(VPP_RUN_DIR_PREFIX);
      undo.push(async () => rmSync(dir, { recursive: true, force: true }));
      launched = await launchVpp({ dir });
      undo.push(() => launched!.stop());
      recordVppPid(dir, launched.pid);
      socket = launched.apiSocket;
      log.info({ pid: launched.pid, dir }, "vl3 vpp: our VPP started");
    }
    const vpp = await VppClient.connect(socket, { name: "nse-vl3", require: VL3_VPP_MESSAGES, log });
    undo.push(() => vpp.close());
    const router = new Vl3VppRouter(vpp, ns, log);
    undo.push(() => router.close());

    // the DNS pair: made afresh (a leftover of ours from a crash is replaced)
    const [k, v] = DNS_VETH;
    const kMac = vppMacOf("dns/kernel");
    await ns.linkDel(k).catch(() => undefined);
    await ns
      .batch()
      .linkAdd({ kind: "veth", attrs: { name: k, up: true, mac: kMac }, peer: { name: v, up: true } })
      .commit();
    undo.push(() => ns.linkDel(k));
    let dns: { addr: string; global: string; self: string } | undefined;
    let moving: Promise<unknown> = Promise.resolve();
    const moveDns = async (now: { addr: string; global: string; self: string }, was?: typeof dns) => {
      const b = ns.batch().addrReplace({ link: k, cidr: now.addr });
      if (was && was.addr !== now.addr) b.addrDel({ link: k, cidr: was.addr });
      if (was && masked(was.global) !== masked(now.global))
        b.routeDel({ dst: masked(was.global), dev: k, metric: DNS_ROUTE_METRIC });
      // a metric of its own: the forwarder's routes to G on a peer link (metric 0) replace, not clobber it
      const g: Route = {
        dst: masked(now.global),
        via: now.self.split("/")[0]!,
        dev: k,
        onlink: true,
        metric: DNS_ROUTE_METRIC,
      };
      await b.routeReplace(g).commit();
      await router.attach("dns", o.service, v, [{ dst: now.addr, dev: v }], {
        neighbour: { ip: now.addr.split("/")[0]!, mac: kMac },
      });
      log.info({ dns: now.addr }, "vl3 vpp: our DNS address");
    };
    // on every new prefix our DNS address is a fresh host of it (before any client takes one)
    const onPrefix = () => {
      const addr = pool.allocate();
      if (!addr) {
        log.error({ prefix: pool.prefix }, "vl3 vpp: no address left for DNS");
        return;
      }
      const was = dns;
      dns = { addr, global: pool.globalNet, self: pool.selfAddr };
      const now = dns;
      moving = moving
        .then(() => moveDns(now, was))
        .catch((e: unknown) => log.error({ err: (e as Error).message }, "vl3 vpp: cannot move our DNS address"));
    };
    const unsubscribe = pool.subscribe(onPrefix);
    undo.push(async () => unsubscribe());
    if (pool.ready) onPrefix();

    return {
      setSelf: (now) => router.setSelf(now),
      serverElements: [vl3VppServer(router, log)],
      clientElements: [vl3VppClient(router)],
      dnsIp: () => dns?.addr.split("/")[0],
      livenessCheck: () => vppLivenessCheck(() => dns?.addr.split("/")[0], log),
      close: async () => {
        await moving;
        await unwind();
      },
    };
  } catch (e) {
    await unwind();
    throw e;
  }
}

/**
 * heal's data-plane check of a link to a peer on the VPP datapath: the kernel has no address on
 * the link (VPP holds S), so the echo goes from our DNS address D over the DNS pair, through our
 * VPP and the link, to the peer's S, which the peer's VPP answers. Alive when every peer address
 * of D's family answered within the timeout.
 */
export function vppLivenessCheck(dnsIp: () => string | undefined, log: Logger): LivenessCheck {
  let warned = "";
  return async (conn, signal, timeoutMs) => {
    const src = dnsIp();
    const v6 = (a: string) => a.includes(":");
    const dsts = (conn.context?.ipContext?.dstIpAddrs ?? []).map((a) => a.split("/")[0]!);
    if (!src || signal.aborted) return !signal.aborted;
    const mine = dsts.filter((d) => v6(d) === v6(src));
    if (!mine.length) return true;
    const ms = Math.max(1, Math.min(60_000, Math.round(timeoutMs)));
    const ok = await Promise.all(
      mine.map((dst) =>
        icmpEcho("/proc/self/ns/net", { src, dst, ifname: DNS_VETH[0], timeoutMs: ms, count: 4 }).then(
          (r) => r.received > 0,
          (e: unknown) => {
            const err = messageOf(e);
            if (err !== warned) log.warn({ connId: conn.id, src, dst, err }, "liveness check: cannot ping");
            warned = err;
            return false;
          },
        ),
      ),
    );
    return ok.every(Boolean);
  };
}
