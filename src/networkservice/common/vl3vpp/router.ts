/**
 * The VPP router of a vL3 endpoint (upstream cmd-nse-vl3-vpp with sdk-vpp's `loopback`, `vrf`,
 * `unnumbered` and `routes` elements): per network service one VRF (the same table id for IPv4
 * and IPv6, ours: VPP 24.10's generated bindings have no `ip_table_allocate`) and one loopback in
 * it carrying our address S of each family; every connection's interface goes into that VRF,
 * unnumbered to the loopback, with the connection's routes.
 *
 * The connection interfaces are the KERNEL interfaces the forwarder makes in our netns, which VPP
 * reads with af_packet, or memif masters of VPP for MEMIF connections (`attachMemif`). The kernel must then keep out of their traffic: the forwarder's addresses
 * and routes on them are taken off again (on attach, and whenever the kernel reports a new one on
 * an attached link: a re-plumb puts them back; a netlink watch, nothing runs while idle),
 * our af_packet interface has a MAC of its own (so the kernel drops the unicast frames it
 * receives for VPP), and `prepareNetns` stops the kernel answering ARP (arp_ignore 8) and
 * accepting packets it would answer another way (rp_filter 1) in our namespace. IPv6 has neither
 * knob: a blackhole rule per interface VPP reads has the kernel drop all IPv6 arriving there,
 * NDP included (`keepKernelOut`, netns.ts), and VPP sends no router advertisements to clients.
 *
 *   const r = new Vl3VppRouter(vpp, ns, log);
 *   r.setSelf(["172.16.1.0/32"]);
 *   await r.attach("conn-1", "vl3", "nsm-1a2b", [{ dst: "172.16.1.1/32", dev: "nsm-1a2b" }]);
 *   await r.detach("conn-1");
 */
import { SerialExecutor } from "../../../core/serial.js";
import { watchAddrsRoutes, type AddrRouteChange, type Netns, type NetlinkWatch } from "../../../datapath/index.js";
import type { Route } from "../../../datapath/route.js";
import type { Logger } from "../../../tools/log.js";
import { toAddress, toMac, toPrefix } from "../../../vpp/address.js";
import type { VppClient } from "../../../vpp/client.js";
import { KernelIp6Guards, scrubLink } from "./netns.js";
import { afPacketCreate, ifaceDelete, memifMasterCreate, vppMacOf, type VppIface } from "./ifaces.js";

/** first VRF table id we use; one per network service from here up */
export const VL3_FIRST_TABLE = 0x1300;

interface Service {
  table: number;
  loop: number;
  refs: number;
  /** S of each family on the loopback */
  selfs: Set<string>;
}

interface Attached {
  service: string;
  /** the kernel interface (af_packet), or the memif's socket */
  ifname: string;
  /** the kernel's ifindex of the interface (a new index = the forwarder made it again); memif: -1 */
  kindex: number;
  swIfIndex: number;
  iface: VppIface;
  routes: Map<string, Route>;
  /** the L3 MTU set on the VPP interface (0: VPP's default) */
  mtu: number;
  /** neighbours we set (DNS pair) */
  static?: { ip: string; mac: string };
}

const isV6 = (cidr: string) => cidr.includes(":");
const routeKey = (r: Route) => `${r.dst}|${r.via ?? ""}`;

export class Vl3VppRouter {
  private readonly services = new Map<string, Service>();
  private readonly conns = new Map<string, Attached>();
  private selfs: string[] = [];
  private nextTable = VL3_FIRST_TABLE;
  /** one VPP/netlink change at a time: attach, detach, S moving and scrubs interleave otherwise */
  private readonly serial = new SerialExecutor();
  /** the kernel's address/route changes in our netns */
  private readonly watch: NetlinkWatch;
  /** kernel ifindexes of attached links with a new address or route, to scrub on the next pass */
  private readonly dirty = new Set<number>();
  private scrubQueued = false;
  private closed = false;
  /** the kernel interfaces whose IPv6 the kernel drops, by connection key */
  private readonly guards: KernelIp6Guards;

  /** Throws when the netlink watch on `ns` cannot be set up (not root, addon not rebuilt). */
  constructor(
    readonly vpp: VppClient,
    private readonly ns: Netns,
    private readonly log: Logger,
  ) {
    this.watch = watchAddrsRoutes(ns, (e) => this.onKernelChange(e));
    this.guards = new KernelIp6Guards(ns, log);
  }

  /** Our addresses S (one per family, "a.b.c.d/32"); the loopbacks follow. */
  setSelf(addrs: readonly string[]): Promise<void> {
    this.selfs = [...addrs];
    return this.serial.run(async () => {
      for (const s of this.services.values()) await this.syncSelf(s);
    });
  }

  /** The VRF table id of `service` (made on first use). */
  tableOf(service: string): number | undefined {
    return this.services.get(service)?.table;
  }

  /** The connections attached, by key: their VPP interface and routes. */
  attached(): ReadonlyMap<string, { ifname: string; swIfIndex: number; routes: Route[] }> {
    return new Map([...this.conns].map(([k, a]) => [k, { ...a, routes: [...a.routes.values()] }]));
  }

  /**
   * Puts the kernel interface `ifname` of our netns into VPP for connection `key` (once; again if
   * the forwarder made it anew), in `service`'s VRF, unnumbered to its loopback, and makes its
   * routes in VPP `routes` (host routes without `via` are attached to the interface). Waits up to
   * `waitMs` for the interface: on the endpoint side the forwarder makes it after we answer.
   * The VPP interface's L3 MTU is the lower of `mtu` (the connection context's) and the kernel
   * interface's, set again when a later attach (a refresh) brings a different one.
   */
  attach(
    key: string,
    service: string,
    ifname: string,
    routes: readonly Route[],
    o: { waitMs?: number; signal?: AbortSignal; neighbour?: { ip: string; mac: string }; mtu?: number } = {},
  ): Promise<number> {
    return this.waitLink(ifname, o.waitMs ?? 15_000, o.signal).then((link) =>
      this.serial.run(async () => {
        if (o.signal?.aborted) throw new Error(`vl3 vpp: ${key} closed before its interface was attached`);
        let a = this.conns.get(key);
        if (a && (a.kindex !== link.index || a.ifname !== ifname)) {
          await this.teardown(key, a);
          a = undefined;
        }
        await this.guards.guard(key, ifname);
        if (!a) a = await this.create(key, service, ifname, link);
        await this.syncMtu(a, o.mtu, link.mtu);
        if (o.neighbour && a.static?.ip !== o.neighbour.ip) {
          await this.vpp.request("ip_neighbor_add_del", {
            is_add: true,
            neighbor: {
              sw_if_index: a.swIfIndex,
              flags: 1,
              mac_address: toMac(o.neighbour.mac),
              ip_address: toAddress(o.neighbour.ip),
            },
          });
          a.static = o.neighbour;
        }
        await this.syncRoutes(a, routes);
        await this.scrub([a]);
        return a.swIfIndex;
      }),
    );
  }

  /**
   * A MEMIF connection `key`: a memif master of our VPP on `socket` (VPP's socket filename, made
   * once per connection), IP mode unless `ethernet`, then as `attach`.
   */
  attachMemif(
    key: string,
    service: string,
    socket: string,
    routes: readonly Route[],
    o: { ethernet?: boolean; mtu?: number } = {},
  ): Promise<number> {
    return this.serial.run(async () => {
      let a = this.conns.get(key);
      if (a && a.ifname !== socket) {
        await this.teardown(key, a);
        a = undefined;
      }
      if (!a) {
        const s = await this.service(service);
        const iface = await memifMasterCreate(this.vpp, socket, !o.ethernet);
        a = await this.enroll(key, s, service, socket, -1, iface, !!o.ethernet);
      }
      await this.syncMtu(a, o.mtu);
      await this.syncRoutes(a, routes);
      return a.swIfIndex;
    });
  }

  /**
   * The kernel of our netns drops the IPv6 packets that arrive on `ifname` from now on (it need
   * not exist yet): call it with the name before the forwarder makes the interface, so that the
   * kernel never answers a client's neighbour solicitation for the copy of S the forwarder puts
   * there. Until `detach(key)`. Failures are logged, not thrown (IPv4 does not need it).
   */
  keepKernelOut(key: string, ifname: string): Promise<void> {
    return this.serial.run(() => this.guards.guard(key, ifname));
  }

  /** Takes connection `key` out of VPP (routes, interface); the forwarder removes a kernel interface. */
  detach(key: string): Promise<void> {
    return this.serial.run(async () => {
      const a = this.conns.get(key);
      if (a) await this.teardown(key, a);
      await this.guards.unguard(key);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watch.close();
    await this.serial.run(async () => {
      for (const [k, a] of [...this.conns]) await this.teardown(k, a).catch(() => undefined);
      await this.guards.clear();
    });
  }

  private async waitLink(ifname: string, ms: number, signal?: AbortSignal) {
    const end = Date.now() + ms;
    for (;;) {
      const l = await this.ns.linkByName(ifname).catch(() => undefined);
      if (l?.attrs.index !== undefined)
        return { index: l.attrs.index, mac: l.attrs.mac, kind: l.kind, mtu: l.attrs.mtu };
      if (this.closed || signal?.aborted) throw new Error(`vl3 vpp: stopped while waiting for ${ifname}`);
      if (Date.now() > end)
        throw new Error(`vl3 vpp: interface ${ifname} did not appear in ${this.ns.name} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async service(name: string): Promise<Service> {
    const have = this.services.get(name);
    if (have) return have;
    const table = this.nextTable++;
    for (const is_ip6 of [false, true])
      await this.vpp.request("ip_table_add_del", {
        is_add: true,
        table: { table_id: table, is_ip6, name: `vl3 ${name}` },
      });
    const { sw_if_index: loop } = await this.vpp.request("create_loopback", {
      mac_address: toMac(vppMacOf(`lo/${name}`)),
    });
    for (const is_ipv6 of [false, true])
      await this.vpp.request("sw_interface_set_table", { sw_if_index: loop, is_ipv6, vrf_id: table });
    await this.vpp.request("sw_interface_set_flags", { sw_if_index: loop, flags: 1 });
    const s: Service = { table, loop, refs: 0, selfs: new Set() };
    this.services.set(name, s);
    await this.syncSelf(s);
    this.log.info({ service: name, table, loop }, "vl3 vpp: VRF and loopback made");
    return s;
  }

  private async syncSelf(s: Service): Promise<void> {
    const want = new Set(this.selfs);
    for (const a of [...s.selfs].filter((x) => !want.has(x))) {
      await this.vpp
        .request("sw_interface_add_del_address", { sw_if_index: s.loop, is_add: false, prefix: toPrefix(a) })
        .catch(() => undefined);
      s.selfs.delete(a);
    }
    for (const a of [...want].filter((x) => !s.selfs.has(x))) {
      await this.vpp.request("sw_interface_add_del_address", {
        sw_if_index: s.loop,
        is_add: true,
        prefix: toPrefix(a),
      });
      s.selfs.add(a);
    }
  }

  private async create(
    key: string,
    service: string,
    ifname: string,
    link: { index: number; mac?: string; kind: string; mtu?: number },
  ): Promise<Attached> {
    const s = await this.service(service);
    const l2 = !!link.mac && link.mac !== "00:00:00:00:00:00";
    if (!l2)
      // docs/vl3.md (The VPP datapath): VPP 24.10 cuts a client's GSO packet for an L3 device
      // keeping the whole packet's IPv4 total length in every segment; wireguard-go drops them
      this.log.warn(
        { key, ifname, kind: link.kind },
        "vl3 vpp: an L3 device (a WireGuard tunnel?) is attached in IP mode: TCP from clients towards it " +
          "crawls (VPP 24.10 segments their GSO packets with the whole packet's IPv4 total length, the " +
          "receiving wireguard-go drops them); have the forwarders prefer VXLAN: NSM_REMOTE_MECHANISMS=VXLAN,WIREGUARD",
      );
    await scrubLink(this.ns, ifname, this.log);
    const iface = await afPacketCreate(this.vpp, ifname, l2 ? vppMacOf(`${key}/${link.index}`) : undefined);
    return this.enroll(key, s, service, ifname, link.index, iface, l2);
  }

  /** `iface` into `s`'s VRF, unnumbered to its loopback, up; removed again when that fails */
  private async enroll(
    key: string,
    s: Service,
    service: string,
    ifname: string,
    kindex: number,
    iface: VppIface,
    l2: boolean,
  ): Promise<Attached> {
    const sw_if_index = iface.swIfIndex;
    try {
      for (const is_ipv6 of [false, true])
        await this.vpp.request("sw_interface_set_table", { sw_if_index, is_ipv6, vrf_id: s.table });
      await this.vpp.request("sw_interface_set_unnumbered", {
        sw_if_index: s.loop,
        unnumbered_sw_if_index: sw_if_index,
        is_add: true,
      });
      // IPv6 on (link-local, NDP); on Ethernet no router advertisements: a client's kernel
      // would take VPP for its default router
      await this.vpp.request("sw_interface_ip6_enable_disable", { sw_if_index, enable: true });
      if (l2) await this.vpp.request("sw_interface_ip6nd_ra_config", { sw_if_index, suppress: 1 });
      // an L3 device reads no vnet header: VPP segments what arrived as one GSO packet
      if (!l2 && iface.kind === "af_packet")
        await this.vpp.request("feature_gso_enable_disable", { sw_if_index, enable_disable: true });
      await this.vpp.request("sw_interface_set_flags", { sw_if_index, flags: 1 });
    } catch (e) {
      await ifaceDelete(this.vpp, iface).catch(() => undefined);
      throw e;
    }
    s.refs++;
    const a: Attached = { service, ifname, kindex, swIfIndex: sw_if_index, iface, routes: new Map(), mtu: 0 };
    this.conns.set(key, a);
    this.log.info(
      { key, ifname, swIfIndex: sw_if_index, kind: iface.kind, mode: l2 ? "ethernet" : "ip" },
      "vl3 vpp: interface attached",
    );
    return a;
  }

  /** `a`'s L3 MTU in VPP (the af_packet hardware MTU is the kernel link's): VPP answers
   *  "fragmentation needed" rather than send what the kernel end or the path drops */
  private async syncMtu(a: Attached, ctxMtu?: number, linkMtu?: number): Promise<void> {
    const want = Math.min(...[ctxMtu, linkMtu].filter((m): m is number => !!m && m > 0));
    if (!Number.isFinite(want) || want === a.mtu) return;
    await this.vpp.request("sw_interface_set_mtu", { sw_if_index: a.swIfIndex, mtu: [want, 0, 0, 0] });
    this.log.info({ ifname: a.ifname, swIfIndex: a.swIfIndex, mtu: want, was: a.mtu || undefined }, "vl3 vpp: MTU set");
    a.mtu = want;
  }

  private route(a: Attached, r: Route, is_add: boolean) {
    const s = this.services.get(a.service)!;
    const v6 = isV6(r.dst);
    const host = r.dst.endsWith(v6 ? "/128" : "/32");
    // an attached host route resolves its own address on the interface
    const nh = r.via ?? (host ? r.dst : undefined);
    return this.vpp.request("ip_route_add_del", {
      is_add,
      route: {
        table_id: s.table,
        prefix: toPrefix(r.dst),
        paths: [{ sw_if_index: a.swIfIndex, proto: v6 ? 1 : 0, nh: { address: nh ? toAddress(nh).un : undefined } }],
      },
    });
  }

  private async syncRoutes(a: Attached, routes: readonly Route[]): Promise<void> {
    const want = new Map(routes.map((r) => [routeKey(r), r]));
    for (const [k, r] of [...a.routes].filter(([k]) => !want.has(k))) {
      await this.route(a, r, false).catch(() => undefined);
      a.routes.delete(k);
    }
    for (const [k, r] of want)
      if (!a.routes.has(k)) {
        await this.route(a, r, true);
        a.routes.set(k, r);
      }
  }

  private async teardown(key: string, a: Attached): Promise<void> {
    this.conns.delete(key);
    for (const r of a.routes.values()) await this.route(a, r, false).catch(() => undefined);
    await ifaceDelete(this.vpp, a.iface).catch(() => undefined);
    const s = this.services.get(a.service);
    if (s) s.refs--;
    this.log.info({ key, ifname: a.ifname }, "vl3 vpp: interface detached");
  }

  private async scrub(as: Iterable<Attached>): Promise<void> {
    for (const a of as) if (a.kindex >= 0) await scrubLink(this.ns, a.ifname, this.log).catch(() => undefined);
  }

  /**
   * A new address or route on a link we attached (the forwarder plumbing it again) is scrubbed;
   * lost notifications (overrun) scrub every attached link. Our own deletions report "del" and
   * are ignored, as are other links. The DNS pair's VPP end (a.static) is ours: nobody adds to it.
   */
  private onKernelChange(e: AddrRouteChange): void {
    if (this.closed) return;
    const ours = [...this.conns.values()].filter((a) => !a.static && a.kindex >= 0);
    if (e.kind === "overrun") {
      this.log.debug({ errno: e.errno }, "vl3 vpp: netlink notifications lost, scrubbing every attached link");
      for (const a of ours) this.dirty.add(a.kindex);
    } else if (e.op === "new" && ours.some((a) => a.kindex === e.index)) this.dirty.add(e.index!);
    if (!this.dirty.size || this.scrubQueued) return;
    this.scrubQueued = true;
    void this.serial
      .run(async () => {
        this.scrubQueued = false; // a change from here on queues another pass
        const idx = new Set(this.dirty);
        this.dirty.clear();
        if (!this.closed) await this.scrub([...this.conns.values()].filter((a) => !a.static && idx.has(a.kindex)));
      })
      .catch(() => undefined);
  }
}
