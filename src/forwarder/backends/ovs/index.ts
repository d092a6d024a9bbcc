/**
 * The OVS datapath backend (NSM_DATAPATH=ovs), as forwarder-ovs plumbs (datapath.md §2.1 "forwarder-ovs,
 * kernel via veth pair", §2.3 OVS, §6): one bridge on the userspace (`netdev`) datapath; each
 * KERNEL side is a veth pair whose workload end is born in the workload's netns (named by the
 * mechanism, with the IPContext's addresses and routes) and whose host end is an OVS port; each
 * remote node is one shared `vxlan` port (`key=flow`, the VNI goes in the flows); each connection
 * is two OpenFlow rules (§6.2) installed over our own OpenFlow 1.3 session.
 *
 * | incoming → outgoing | ports | flows |
 * |---|---|---|
 * | KERNEL → KERNEL | `tapsrc-…` (NSC side), `tapdst-…` (NSE side) | in_port=C→E, in_port=E→C |
 * | KERNEL → VXLAN (NSC's node) | `tapsrc-…` + `v<remote ip>` | in_port=L→set tun_id N, T; in_port=T,tun_id=N→L |
 * | VXLAN → KERNEL (NSE's node; this side picks the VNI) | `tapdst-…` + `v<remote ip>` | same |
 *
 * ovs-vswitchd restarted: flows are gone; the OpenFlow session reconnects and every live
 * connection's flows are installed again (with the ofports read back from OVSDB), no Request
 * needed. ovsdb-server restarted: the OVSDB client reconnects and resyncs its replica.
 * Ports and veths carry the connection id (`external_ids:nsm-ts-conn`, alias `nsm:<id>`); ports
 * of ours left by a previous run are removed at start. Root only.
 *
 *   const backend = await ovsBackend({ db: "unix:/var/run/openvswitch/db.sock", bridge: "br-nsm", log });
 *   await createForwarder({ ..., backend });
 */
import { isIPv4 } from "node:net";
import { cls, kernel, mechType, newMechanism, vxlan, type Connection, type Mechanism } from "../../../api/index.js";
import type { Ctx } from "../../../core/index.js";
import type { CrossConnect, DatapathBackend } from "../../backend.js";
import {
  OFPP,
  OpenFlowClient,
  xconnectDeletes,
  xconnectFlows,
  type FlowMod,
  type Xconnect,
} from "../../../ovs/openflow/index.js";
import { Vswitch } from "../../../ovs/ovsdb/index.js";
import { type Logger, silentLogger } from "../../../tools/log.js";
import { Netns } from "../../../datapath/netns.js";
import { detectTunnelIp, isGone, withStaleRetry } from "../shared/stale.js";
import { plumbingOf, type SideOf } from "../shared/ipcontext.js";
import { openNetnsUrl } from "../shared/netnsurl.js";

export interface OvsBackendOptions {
  /** NSM_OVS_DB: OVSDB target (default `unix:/var/run/openvswitch/db.sock`) */
  db?: string;
  /** NSM_BRIDGE_NAME: the bridge (default `br-nsm`, as upstream) */
  bridge?: string;
  /** OpenFlow target (default `unix:<rundir>/<bridge>.mgmt`, the socket ovs-ofctl uses) */
  openflow?: string;
  /** OVS run dir for the default OpenFlow target (default $OVS_RUNDIR or /var/run/openvswitch) */
  rundir?: string;
  /** the netns ovs-vswitchd runs in (a path): host veth ends are made there (default: ours) */
  netns?: string;
  /** NSM_TUNNEL_IP: local end of vxlan ports (default: the first global IPv4 address in `netns`) */
  tunnelIp?: string;
  /** NSM_VXLAN_PORT (default 4789) */
  vxlanPort?: number;
  /**
   * The userspace datapath sends tunnel packets only through an OVS bridge port that holds the
   * tunnel IP: this device (in `netns`) becomes a port of the bridge and its addresses move to
   * the bridge's own interface (as upstream does for L2 bridges, §6.1). Without it remote
   * mechanisms work only if that is set up already.
   */
  uplink?: string;
  /** set other_config:userspace-tso-enable=true (TCP through veth ports; effective from vswitchd's next start) (default true) */
  tso?: boolean;
  /** MTU of the veths when the connection context has none (default: the kernel's) */
  mtu?: number;
  log?: Logger;
}

/** A veth whose host end is an OVS port. */
export interface OvsVethEnd {
  /** host end: the OVS port name (in the vswitchd netns) */
  port: string;
  ofport: number;
  /** workload end */
  ifname: string;
  netns: string;
}

/** What the backend keeps per connection. */
export interface OvsRecord {
  id: string;
  /** what was asked for; an equal fingerprint on refresh means "nothing to do" */
  fp: string;
  kind: "local" | "remote";
  /** NSC-facing veth (absent on the NSE's node of a remote connection) */
  src?: OvsVethEnd;
  /** NSE-facing veth (absent on the NSC's node of a remote connection) */
  dst?: OvsVethEnd;
  /** remote: the shared vxlan port, its ofport, the VNI and the peer */
  tunnel?: { port: string; ofport: number; vni: number; peerIp: string; side: SideOf };
}

export interface OvsBackend extends DatapathBackend {
  readonly bridge: string;
  readonly tunnelIp: string | undefined;
  readonly records: ReadonlyMap<string, OvsRecord>;
  readonly vswitch: Vswitch;
  readonly openflow: OpenFlowClient;
  /** how many times all flows were installed again after a new OpenFlow session */
  readonly resyncs: number;
  /** the OpenFlow rules of one connection, as installed */
  flowsOf(r: OvsRecord): FlowMod[];
}

const CONN_KEY = "nsm-ts-conn";
const VXLAN_KEY = "nsm-ts-vxlan";
const ALIAS = (id: string) => `nsm:${id}`;
const UNDERLAY_PRIORITY = 1;
/** upstream: `tapsrc-`/`tapdst-` + the id cut to 15 bytes; we hash the id so ids sharing a prefix never collide */
export const hostPortName = (side: SideOf, id: string) => kernel.ifname(side === "src" ? "tapsrc" : "tapdst", id);
/** upstream: `v` + the remote IPv4 without dots (≤ 15 bytes); a hash for IPv6 */
export const vxlanPortName = (ip: string) => (isIPv4(ip) ? `v${ip.replaceAll(".", "")}` : kernel.ifname("v", ip));

export async function ovsBackend(o: OvsBackendOptions = {}): Promise<OvsBackend> {
  const log = (o.log ?? silentLogger).child({ datapath: "ovs" });
  const bridge = o.bridge ?? "br-nsm";
  const dbTarget = o.db ?? "unix:/var/run/openvswitch/db.sock";
  const ofTarget = o.openflow ?? `unix:${o.rundir ?? process.env.OVS_RUNDIR ?? "/var/run/openvswitch"}/${bridge}.mgmt`;
  const vxlanPort = o.vxlanPort ?? 4789;
  const host = o.netns ? Netns.open(o.netns) : Netns.current();
  const cleanup: (() => unknown)[] = [() => host.close()];
  const undo = async () => {
    for (const f of cleanup.reverse()) {
      try {
        await f();
      } catch {
        /* best effort */
      }
    }
  };
  try {
    const vs = await Vswitch.open(dbTarget, { log, reconnect: true });
    cleanup.push(() => vs.close());
    if (o.tso ?? true) {
      const cur = vs.replica.rows("Open_vSwitch")[0]?.other_config as Record<string, string> | undefined;
      if (cur?.["userspace-tso-enable"] !== "true") {
        await vs.setOtherConfig({ "userspace-tso-enable": "true" }, { wait: false });
        log.warn(
          "set other_config:userspace-tso-enable=true: TCP through veth ports needs it; ovs-vswitchd reads it at its next start",
        );
      }
    }
    await vs.addBridge({
      name: bridge,
      datapathType: "netdev",
      protocols: ["OpenFlow13"],
      failMode: "secure",
      mayExist: true,
    });
    const br = vs.bridge(bridge)!;
    if (br.datapathType !== "netdev")
      log.warn({ bridge, datapathType: br.datapathType }, "the bridge exists with another datapath type");

    let uplinkPort: number | undefined;
    let tunnelIp = o.tunnelIp;
    if (o.uplink) tunnelIp = await attachUplink(host, vs, bridge, o.uplink, tunnelIp, log);
    tunnelIp ??= (await detectTunnelIp(host))?.ip;
    if (o.uplink) uplinkPort = await vs.waitOfport(o.uplink);
    const tunnelMtu =
      ((o.uplink ? (await host.linkByName(o.uplink).catch(() => undefined))?.attrs.mtu : undefined) ?? 1500) - 50;

    // ports of ours left by a previous run (the veths go with them)
    for (const p of vs.ports(bridge)) {
      const id = p.externalIds[CONN_KEY];
      if (id === undefined && p.externalIds[VXLAN_KEY] === undefined) continue;
      log.info({ port: p.name, connId: id }, "ovs datapath: removing a port left by a previous run");
      await vs.delPort(bridge, p.name, { ifExists: true, wait: false });
      if (id !== undefined) await host.linkDel(p.name).catch(() => undefined);
    }

    const of = await OpenFlowClient.connect(ofTarget, {
      log,
      reconnect: true,
      backoffMs: { min: 20, max: 500 },
      timeoutMs: 5_000,
    });
    cleanup.push(() => of.close());

    const live = new Map<string, OvsRecord>();
    /** vxlan ports: name → users (connection ids) and the pending create */
    const tunnels = new Map<string, { users: Set<string>; ready: Promise<number> }>();
    let resyncs = 0;

    // OpenFlow programming goes through one queue: a resync never races a remove
    let ofq: Promise<unknown> = Promise.resolve();
    const serial = <T>(f: () => Promise<T>): Promise<T> => {
      const p = ofq.then(f);
      ofq = p.catch(() => undefined);
      return p;
    };

    const underlayFlows = (): FlowMod[] =>
      uplinkPort === undefined
        ? []
        : [
            {
              command: "add",
              tableId: 0,
              priority: UNDERLAY_PRIORITY,
              match: { inPort: uplinkPort },
              actions: [{ type: "output", port: OFPP.LOCAL }],
            },
            {
              command: "add",
              tableId: 0,
              priority: UNDERLAY_PRIORITY,
              match: { inPort: OFPP.LOCAL },
              actions: [{ type: "output", port: uplinkPort }],
            },
          ];
    const xcOf = (r: OvsRecord): Xconnect =>
      r.kind === "local"
        ? { kind: "local", e: r.dst!.ofport, c: r.src!.ofport }
        : { kind: "remote", l: (r.src ?? r.dst)!.ofport, t: r.tunnel!.ofport, vni: r.tunnel!.vni };
    const flowsOf = (r: OvsRecord) => xconnectFlows(xcOf(r));

    // a fresh bridge has no flows (fail_mode secure), an old one may have anyone's: start clean (upstream: del-flows)
    await serial(() => of.flowMods([{ command: "delete", tableId: 0xff }, ...underlayFlows()]));

    /** After a new OpenFlow session (vswitchd restarted): read the ofports back, install everything again. */
    const resync = () =>
      serial(async () => {
        const ofp = (name: string) => vs.waitOfport(name, { timeoutMs: 10_000 });
        if (o.uplink) uplinkPort = await ofp(o.uplink);
        for (const [name, t] of tunnels) {
          const ready = ofp(name);
          ready.catch(() => undefined); // awaited by the next user or below; never an unhandled rejection
          t.ready = ready;
        }
        const mods: FlowMod[] = [{ command: "delete", tableId: 0xff }, ...underlayFlows()];
        for (const r of live.values()) {
          try {
            if (r.src) r.src.ofport = await ofp(r.src.port);
            if (r.dst) r.dst.ofport = await ofp(r.dst.port);
            if (r.tunnel) r.tunnel.ofport = await (tunnels.get(r.tunnel.port)?.ready ?? ofp(r.tunnel.port));
            mods.push(...flowsOf(r));
          } catch (e) {
            log.warn(
              { connId: r.id, err: (e as Error).message },
              "ovs datapath: cannot reinstall the connection's flows",
            );
          }
        }
        await of.flowMods(mods);
        resyncs++;
        log.info(
          { connections: live.size },
          "ovs datapath: OpenFlow session is new (ovs-vswitchd restarted?): flows reinstalled",
        );
      });
    // connect() emitted the first session's event already: every one from now on is a new session
    const offConnected = of.on("connected", () => {
      resync().catch((e: unknown) =>
        log.error({ err: (e as Error).message }, "ovs datapath: resync after reconnect failed"),
      );
    });
    cleanup.push(offConnected);
    const offDb = vs.db.on("connected", () => log.info("ovs datapath: OVSDB session is back (replica resynced)"));
    cleanup.push(offDb);

    // ---- plumbing ---------------------------------------------------------------------------

    const ifnameOf = (m: Mechanism, what: string) => {
      const n = kernel.ifnameOf(m);
      if (!n) throw new Error(`${what}: the KERNEL mechanism has no interface name (parameter "name")`);
      return n;
    };
    const ctxMtu = (x: CrossConnect) => x.outgoing.context?.MTU || o.mtu || undefined;

    /** A veth from the workload's netns to an OVS port; `side` "src" faces the NSC. */
    async function addVeth(x: CrossConnect, m: Mechanism, side: SideOf, ctx: Ctx): Promise<OvsVethEnd> {
      const what = side === "src" ? "client side" : "endpoint side";
      const ifname = ifnameOf(m, what);
      const port = hostPortName(side, x.id);
      const ns = openNetnsUrl(kernel.netnsUrlOf(m), what);
      const alias = ALIAS(x.id);
      const mtu = ctxMtu(x);
      try {
        const create = () =>
          host
            .batch()
            .linkAdd({
              kind: "veth",
              attrs: { name: port, mtu, up: true, alias },
              peer: { name: ifname, netns: ns, mtu, up: true },
            })
            .commit({ signal: ctx.signal });
        // a stale interface of ours (same connection id, or a workload name taken by one of ours) is replaced
        await withStaleRetry(
          [
            { ns: host, ifname: port },
            { ns, ifname },
          ],
          create,
          { log, what },
        );
        try {
          const b = ns.batch().linkSetAlias(ifname, alias);
          const p = plumbingOf(x.outgoing.context?.ipContext, side, ifname);
          for (const a of p.addrs) b.addrReplace(a);
          for (const r of p.routes) b.routeReplace(r);
          await b.commit({ signal: ctx.signal });
          await vs.addPort(
            bridge,
            { name: port, externalIds: { [CONN_KEY]: x.id }, mayExist: true },
            { signal: ctx.signal },
          );
          const ofport = await vs.waitOfport(port, { signal: ctx.signal, timeoutMs: 10_000 });
          return { port, ofport, ifname, netns: ns.name };
        } catch (e) {
          await vs.delPort(bridge, port, { ifExists: true, wait: false }).catch(() => undefined);
          await host.linkDel(port).catch(() => undefined);
          throw e;
        }
      } finally {
        ns.close();
      }
    }

    async function delVeth(e: OvsVethEnd): Promise<void> {
      const errors: string[] = [];
      try {
        await vs.delPort(bridge, e.port, { ifExists: true, wait: false });
      } catch (err) {
        errors.push(`del-port ${e.port}: ${(err as Error).message}`);
      }
      // deleting the host end deletes the pair (the workload end too)
      try {
        await host.linkDel(e.port);
      } catch (err) {
        if (!isGone(err)) errors.push(`veth ${e.port}: ${(err as Error).message}`);
      }
      if (errors.length) throw new Error(errors.join("; "));
    }

    /** The shared vxlan port toward `peerIp`, created by its first user. */
    async function useTunnel(
      id: string,
      peerIp: string,
      port: number,
      ctx: Ctx,
    ): Promise<{ name: string; ofport: number }> {
      if (!tunnelIp) throw new Error("no tunnel IP (set NSM_TUNNEL_IP)");
      const name = vxlanPortName(peerIp);
      let t = tunnels.get(name);
      if (!t) {
        const ready = (async () => {
          await vs.addPort(
            bridge,
            {
              name,
              type: "vxlan",
              mayExist: true,
              externalIds: { [VXLAN_KEY]: peerIp },
              options: { local_ip: tunnelIp, remote_ip: peerIp, dst_port: String(port), key: "flow" },
            },
            { signal: ctx.signal },
          );
          return vs.waitOfport(name, { timeoutMs: 10_000 });
        })();
        t = { users: new Set(), ready };
        tunnels.set(name, t);
        ready.catch(() => {
          if (tunnels.get(name) === t && !t!.users.size) tunnels.delete(name);
        });
      }
      t.users.add(id);
      try {
        return { name, ofport: await t.ready };
      } catch (e) {
        t.users.delete(id);
        throw e;
      }
    }
    async function releaseTunnel(id: string, name: string): Promise<void> {
      const t = tunnels.get(name);
      if (!t) return;
      t.users.delete(id);
      if (t.users.size) return;
      tunnels.delete(name);
      await vs.delPort(bridge, name, { ifExists: true, wait: false });
    }

    const ipFp = (x: CrossConnect) =>
      JSON.stringify([
        x.outgoing.context?.ipContext?.srcIpAddrs,
        x.outgoing.context?.ipContext?.dstIpAddrs,
        x.outgoing.context?.ipContext?.srcRoutes?.map((r) => [r.prefix, r.nextHop]),
        x.outgoing.context?.ipContext?.dstRoutes?.map((r) => [r.prefix, r.nextHop]),
        ctxMtu(x),
      ]);

    function planOf(x: CrossConnect): { kind: "local" | "remote"; side?: SideOf; fp: string } {
      const inM = x.incoming.mechanism,
        outM = x.outgoing.mechanism;
      if (!inM || !outM) throw new Error("cross connect without mechanisms on both sides");
      const p = (m: Mechanism, keys: string[]) => keys.map((k) => m.parameters[k] ?? "");
      const kp = (m: Mechanism) => p(m, [kernel.keys.NETNS_URL, kernel.keys.INTERFACE_NAME]);
      if (inM.type === mechType.KERNEL && outM.type === mechType.KERNEL)
        return { kind: "local", fp: JSON.stringify(["local", kp(inM), kp(outM), ipFp(x)]) };
      if (inM.type === mechType.KERNEL && outM.type === mechType.VXLAN) {
        return {
          kind: "remote",
          side: "src",
          fp: JSON.stringify(["vxlan", "src", kp(inM), p(outM, ["src_ip", "dst_ip", "dst_port", "vni"]), ipFp(x)]),
        };
      }
      if (inM.type === mechType.VXLAN && outM.type === mechType.KERNEL) {
        return {
          kind: "remote",
          side: "dst",
          fp: JSON.stringify(["vxlan", "dst", kp(outM), p(inM, ["src_ip", "src_port"]), ipFp(x)]),
        };
      }
      throw new Error(`ovs datapath cannot cross-connect ${inM.type} to ${outM.type}`);
    }

    async function plumbLocal(x: CrossConnect, fp: string, ctx: Ctx): Promise<OvsRecord> {
      const src = await addVeth(x, x.incoming.mechanism!, "src", ctx);
      try {
        const dst = await addVeth(x, x.outgoing.mechanism!, "dst", ctx);
        return { id: x.id, fp, kind: "local", src, dst };
      } catch (e) {
        await delVeth(src).catch(() => undefined);
        throw e;
      }
    }

    async function plumbRemote(
      x: CrossConnect,
      fp: string,
      side: SideOf,
      ctx: Ctx,
      prev?: OvsRecord,
    ): Promise<OvsRecord> {
      if (!tunnelIp) throw new Error("no tunnel IP (set NSM_TUNNEL_IP)");
      const local = side === "src" ? x.incoming.mechanism! : x.outgoing.mechanism!;
      const tun = side === "src" ? x.outgoing.mechanism! : x.incoming.mechanism!;
      const peerIp = side === "src" ? vxlan.dstIp(tun) : vxlan.srcIp(tun);
      if (!peerIp) throw new Error(`VXLAN mechanism has no ${side === "src" ? "dst_ip" : "src_ip"}`);
      let vni = vxlan.vni(tun);
      if (side === "dst") {
        // ours to pick (upstream vni server, parity rule), kept across refreshes
        if (prev?.tunnel?.peerIp === peerIp) vni = prev.tunnel.vni;
        else if (!vni) {
          vxlan.setDstIp(tun, tunnelIp);
          const taken = new Set(
            [...live.values()].filter((r) => r.tunnel?.peerIp === peerIp).map((r) => r.tunnel!.vni),
          );
          do vni = vxlan.randomVni(tun);
          while (taken.has(vni));
        }
        vxlan.setDstIp(tun, tunnelIp);
        vxlan.setDstPort(tun, vxlanPort);
        vxlan.setVni(tun, vni);
        vxlan.setMtu(tun, Math.min(vxlan.mtu(tun) || tunnelMtu, tunnelMtu));
      }
      if (!vni) throw new Error("VXLAN mechanism from the next hop has no vni");
      const udp = (side === "src" ? vxlan.dstPort(tun) : vxlan.srcPort(tun)) || vxlanPort;
      const t = await useTunnel(x.id, peerIp, udp, ctx);
      try {
        const end = await addVeth(x, local, side, ctx);
        return {
          id: x.id,
          fp,
          kind: "remote",
          [side]: end,
          tunnel: { port: t.name, ofport: t.ofport, vni, peerIp, side },
        };
      } catch (e) {
        await releaseTunnel(x.id, t.name).catch(() => undefined);
        throw e;
      }
    }

    async function unplumb(r: OvsRecord): Promise<void> {
      const errors: string[] = [];
      try {
        await serial(() => of.flowMods(xconnectDeletes(xcOf(r))));
      } catch (e) {
        errors.push(`flows: ${(e as Error).message}`);
      }
      for (const e of [r.src, r.dst])
        if (e) {
          try {
            await delVeth(e);
          } catch (err) {
            errors.push((err as Error).message);
          }
        }
      if (r.tunnel) {
        try {
          await releaseTunnel(r.id, r.tunnel.port);
        } catch (e) {
          errors.push(`vxlan ${r.tunnel.port}: ${(e as Error).message}`);
        }
      }
      if (errors.length) throw new Error(`ovs datapath: removing connection ${r.id}: ${errors.join("; ")}`);
    }

    return {
      name: "ovs",
      bridge,
      tunnelIp,
      records: live,
      vswitch: vs,
      openflow: of,
      get resyncs() {
        return resyncs;
      },
      flowsOf,
      mechanisms: { local: [mechType.KERNEL], remote: [mechType.VXLAN] },

      outgoingPreferences(_incoming: Connection, opt: { remote: boolean }) {
        if (!opt.remote) return [newMechanism(cls.LOCAL, mechType.KERNEL)];
        if (!tunnelIp) return [];
        const m = vxlan.newVxlan(tunnelIp);
        vxlan.setSrcPort(m, vxlanPort);
        vxlan.setMtu(m, tunnelMtu);
        return [m];
      },

      async apply(x: CrossConnect, ctx: Ctx) {
        const plan = planOf(x);
        const prev = live.get(x.id);
        if (prev && prev.fp === plan.fp) {
          if (prev.tunnel?.side === "dst") {
            const m = x.incoming.mechanism!;
            vxlan.setDstIp(m, tunnelIp!);
            vxlan.setDstPort(m, vxlanPort);
            vxlan.setVni(m, prev.tunnel.vni);
            vxlan.setMtu(m, Math.min(vxlan.mtu(m) || tunnelMtu, tunnelMtu));
          }
          return;
        }
        if (prev) {
          // changed: replace it (flows are installed once per connection, as upstream's IsCrossConnected)
          live.delete(x.id);
          log.debug({ connId: x.id }, "ovs datapath: replacing the connection's ports and flows");
          await unplumb(prev).catch((e: unknown) =>
            log.warn(
              { connId: x.id, err: (e as Error).message },
              "ovs datapath: removing the previous plumbing failed",
            ),
          );
        }
        const r =
          plan.kind === "local"
            ? await plumbLocal(x, plan.fp, ctx)
            : await plumbRemote(x, plan.fp, plan.side!, ctx, prev);
        try {
          await serial(() => of.flowMods(flowsOf(r)));
        } catch (e) {
          await unplumb(r).catch(() => undefined);
          throw e;
        }
        live.set(x.id, r);
        log.debug(
          { connId: x.id, kind: r.kind, src: r.src?.port, dst: r.dst?.port, tunnel: r.tunnel?.port },
          "ovs datapath: plumbed",
        );
      },

      async remove(x: CrossConnect) {
        const r = live.get(x.id);
        if (!r) return;
        live.delete(x.id);
        await unplumb(r);
      },

      async metrics(x: CrossConnect) {
        const r = live.get(x.id);
        if (!r || !of.isConnected) return undefined;
        const out: Record<string, string> = {};
        const put = (
          side: "server" | "client",
          iface: string,
          s: {
            rxBytes: number | bigint;
            txBytes: number | bigint;
            rxPackets: number | bigint;
            txPackets: number | bigint;
            drops?: number;
          },
        ) => {
          out[`${side}_rx_bytes`] = String(s.rxBytes);
          out[`${side}_tx_bytes`] = String(s.txBytes);
          out[`${side}_rx_packets`] = String(s.rxPackets);
          out[`${side}_tx_packets`] = String(s.txPackets);
          if (s.drops !== undefined) out[`${side}_drops`] = String(s.drops);
          out[`${side}_interface`] = iface;
        };
        // port counters are OVS's view: rx = what the workload sent into the bridge
        const veth = async (side: "server" | "client", e: OvsVethEnd) => {
          const s = (await of.portStats(e.ofport))[0];
          if (s) put(side, `VETH/${e.port}`, { ...s, drops: s.rxDropped + s.txDropped });
        };
        if (r.src) await veth("server", r.src);
        if (r.dst) await veth("client", r.dst);
        if (r.tunnel) {
          // the vxlan port is shared: this connection's share is its flows' counters
          const l = (r.src ?? r.dst)!;
          const [fromTun] = await of.flowStats({
            tableId: 0,
            match: { inPort: r.tunnel.ofport, tunnelId: BigInt(r.tunnel.vni) },
          });
          const [fromLocal] = await of.flowStats({ tableId: 0, match: { inPort: l.ofport } });
          put(r.tunnel.side === "src" ? "client" : "server", `VXLAN/${r.tunnel.port}`, {
            rxBytes: fromTun?.byteCount ?? 0n,
            rxPackets: fromTun?.packetCount ?? 0n,
            txBytes: fromLocal?.byteCount ?? 0n,
            txPackets: fromLocal?.packetCount ?? 0n,
          });
        }
        return out;
      },

      async close() {
        // ports, veths and flows stay (a restarted forwarder removes them at start); sockets go
        await ofq.catch(() => undefined);
        await undo();
      },
    };
  } catch (e) {
    await undo();
    throw e;
  }
}

/**
 * Makes `uplink` a port of the bridge and moves its addresses (and the default route through it)
 * to the bridge's own interface, so the userspace datapath can send vxlan packets (it routes
 * them only through OVS bridge interfaces). Idempotent. Returns the tunnel IP.
 */
async function attachUplink(
  host: Netns,
  vs: Vswitch,
  bridge: string,
  uplink: string,
  want: string | undefined,
  log: Logger,
): Promise<string | undefined> {
  const already = vs.port(uplink)?.bridge === bridge;
  const addrs = (await host.addrs({ link: uplink })).filter((a) => a.scope === 0);
  const routes = (await host.routes({})).filter((r) => r.dev === uplink && r.via);
  const link = await host.linkByName(uplink);
  if (!already) {
    await vs.addPort(bridge, { name: uplink, mayExist: true });
    await vs.waitOfport(uplink);
  }
  await vs.waitOfport(bridge);
  if (addrs.length) {
    const b = host.batch();
    if (link.attrs.mtu) b.linkSetMtu(bridge, link.attrs.mtu);
    b.linkSetUp(bridge);
    for (const a of addrs) b.addrDel({ link: uplink, cidr: a.cidr });
    for (const a of addrs) b.addrReplace({ link: bridge, cidr: a.cidr });
    for (const r of routes) b.routeReplace({ dst: r.dst, via: r.via, dev: bridge });
    await b.commit();
    log.info(
      { uplink, bridge, addrs: addrs.map((a) => a.cidr) },
      "ovs datapath: uplink attached, its addresses moved to the bridge",
    );
  } else {
    await host.linkSet(bridge, { up: true });
  }
  const ips = (await host.addrs({ link: bridge, family: 4 })).map((a) => a.cidr.split("/")[0]!);
  return want ?? ips[0];
}
