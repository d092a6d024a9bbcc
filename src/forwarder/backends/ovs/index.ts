/**
 * The OVS datapath backend (NSM_DATAPATH=ovs), plumbing as upstream forwarder-ovs does (sdk-ovs,
 * kernel mechanism via veth pair, vxlan between nodes): one bridge on the userspace (`netdev`)
 * datapath; each KERNEL side is a veth pair whose workload end is born in the workload's netns
 * (named by the mechanism, with the IPContext's addresses and routes) and whose host end is an
 * OVS port (ports.ts); each remote node is one shared `vxlan` port (tunnels.ts: `key=flow`, the
 * VNI goes in the flows); each connection is two OpenFlow rules installed over our own OpenFlow
 * 1.3 session (flows.ts).
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
 * of ours left by a previous run are removed at start (bridge.ts). Root only.
 *
 *   const backend = await ovsBackend({ db: "unix:/var/run/openvswitch/db.sock", bridge: "br-nsm", log });
 *   await createForwarder({ ..., backend });
 */
import { cls, mechType, newMechanism, vxlan, type Mechanism } from "../../../api/index.js";
import type { Ctx } from "../../../core/index.js";
import { Netns } from "../../../datapath/netns.js";
import { OpenFlowClient, type FlowMod } from "../../../ovs/openflow/index.js";
import { Vswitch } from "../../../ovs/ovsdb/index.js";
import { silentLogger } from "../../../tools/log.js";
import type { CrossConnect, DatapathBackend } from "../../backend.js";
import type { SideOf } from "../shared/ipcontext.js";
import { detectTunnelIp } from "../shared/stale.js";
import { attachUplink, prepareBridge, removeLeftovers } from "./bridge.js";
import { flowsOf, OvsFlows } from "./flows.js";
import { readMetrics } from "./metrics.js";
import { planOf } from "./plan.js";
import { addVethPort, delVethPort } from "./ports.js";
import { VxlanPorts } from "./tunnels.js";
import type { OvsBackendOptions, OvsEnv, OvsRecord } from "./types.js";

export type { OvsBackendOptions, OvsRecord, OvsVethEnd } from "./types.js";
export { hostPortName } from "./ports.js";
export { vxlanPortName } from "./tunnels.js";

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

export async function ovsBackend(o: OvsBackendOptions = {}): Promise<OvsBackend> {
  const log = (o.log ?? silentLogger).child({ datapath: "ovs" });
  const bridge = o.bridge ?? "br-nsm";
  const ofTarget = o.openflow ?? `unix:${o.rundir ?? process.env.OVS_RUNDIR ?? "/var/run/openvswitch"}/${bridge}.mgmt`;
  const host = o.netns ? Netns.open(o.netns) : Netns.current();
  // undone in reverse order when the start fails, and on close
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
    const vs = await Vswitch.open(o.db ?? "unix:/var/run/openvswitch/db.sock", { log, reconnect: true });
    cleanup.push(() => vs.close());
    await prepareBridge(vs, bridge, o.tso ?? true, log);
    let tunnelIp = o.tunnelIp;
    if (o.uplink) tunnelIp = await attachUplink(host, vs, bridge, o.uplink, tunnelIp, log);
    tunnelIp ??= (await detectTunnelIp(host))?.ip;
    const uplink = o.uplink ? { name: o.uplink, ofport: await vs.waitOfport(o.uplink) } : undefined;
    const uplinkMtu = o.uplink ? (await host.linkByName(o.uplink).catch(() => undefined))?.attrs.mtu : undefined;
    const env: OvsEnv = {
      host,
      vs,
      bridge,
      log,
      tunnelIp,
      vxlanPort: o.vxlanPort ?? 4789,
      tunnelMtu: (uplinkMtu ?? 1500) - 50,
      mtu: o.mtu,
    };
    await removeLeftovers(host, vs, bridge, log);

    const of = await OpenFlowClient.connect(ofTarget, {
      log,
      reconnect: true,
      backoffMs: { min: 20, max: 500 },
      timeoutMs: 5_000,
    });
    cleanup.push(() => of.close());
    const flows = new OvsFlows(of, vs, log, uplink);
    await flows.start();

    const live = new Map<string, OvsRecord>();
    const tunnels = new VxlanPorts(env);
    // connect() emitted the first session's event already: every one from now on is a new session
    cleanup.push(
      of.on("connected", () => {
        flows
          .resync(live.values(), tunnels)
          .catch((e: unknown) =>
            log.error({ err: (e as Error).message }, "ovs datapath: resync after reconnect failed"),
          );
      }),
    );
    cleanup.push(vs.db.on("connected", () => log.info("ovs datapath: OVSDB session is back (replica resynced)")));

    const plumbLocal = async (x: CrossConnect, fp: string, ctx: Ctx): Promise<OvsRecord> => {
      const src = await addVethPort(env, x, x.incoming.mechanism!, "src", ctx);
      try {
        const dst = await addVethPort(env, x, x.outgoing.mechanism!, "dst", ctx);
        return { id: x.id, fp, kind: "local", src, dst };
      } catch (e) {
        await delVethPort(env, src).catch(() => undefined);
        throw e;
      }
    };

    const plumbRemote = async (
      x: CrossConnect,
      fp: string,
      side: SideOf,
      ctx: Ctx,
      prev?: OvsRecord,
    ): Promise<OvsRecord> => {
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
        answerDst(tun, vni);
      }
      if (!vni) throw new Error("VXLAN mechanism from the next hop has no vni");
      const udp = (side === "src" ? vxlan.dstPort(tun) : vxlan.srcPort(tun)) || env.vxlanPort;
      const t = await tunnels.use(x.id, peerIp, udp, ctx);
      try {
        const end = await addVethPort(env, x, local, side, ctx);
        const tunnel = { port: t.name, ofport: t.ofport, vni, peerIp, side };
        const r: OvsRecord = { id: x.id, fp, kind: "remote", [side]: end, tunnel };
        return r;
      } catch (e) {
        await tunnels.release(x.id, t.name).catch(() => undefined);
        throw e;
      }
    };

    /** The NSE's node answers with its end of the tunnel and the VNI it picked. */
    const answerDst = (m: Mechanism, vni: number) => {
      vxlan.setDstIp(m, tunnelIp!);
      vxlan.setDstPort(m, env.vxlanPort);
      vxlan.setVni(m, vni);
      vxlan.setMtu(m, Math.min(vxlan.mtu(m) || env.tunnelMtu, env.tunnelMtu));
    };

    const unplumb = async (r: OvsRecord): Promise<void> => {
      const errors: string[] = [];
      try {
        await flows.remove(r);
      } catch (e) {
        errors.push(`flows: ${(e as Error).message}`);
      }
      for (const e of [r.src, r.dst])
        if (e) await delVethPort(env, e).catch((err: unknown) => errors.push((err as Error).message));
      if (r.tunnel) {
        const port = r.tunnel.port;
        await tunnels.release(r.id, port).catch((e: unknown) => errors.push(`vxlan ${port}: ${(e as Error).message}`));
      }
      if (errors.length) throw new Error(`ovs datapath: removing connection ${r.id}: ${errors.join("; ")}`);
    };

    return {
      name: "ovs",
      bridge,
      tunnelIp,
      records: live,
      vswitch: vs,
      openflow: of,
      get resyncs() {
        return flows.resyncs;
      },
      flowsOf,
      mechanisms: { local: [mechType.KERNEL], remote: [mechType.VXLAN] },

      outgoingPreferences(_incoming, opt) {
        if (!opt.remote) return [newMechanism(cls.LOCAL, mechType.KERNEL)];
        if (!tunnelIp) return [];
        const m = vxlan.newVxlan(tunnelIp);
        vxlan.setSrcPort(m, env.vxlanPort);
        vxlan.setMtu(m, env.tunnelMtu);
        return [m];
      },

      async apply(x, ctx) {
        const plan = planOf(x, o.mtu);
        const prev = live.get(x.id);
        if (prev && prev.fp === plan.fp) {
          if (prev.tunnel?.side === "dst") answerDst(x.incoming.mechanism!, prev.tunnel.vni);
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
          await flows.install(r);
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

      async remove(x) {
        const r = live.get(x.id);
        if (!r) return;
        live.delete(x.id);
        await unplumb(r);
      },

      async metrics(x) {
        const r = live.get(x.id);
        if (!r || !of.isConnected) return undefined;
        return readMetrics(of, r);
      },

      async close() {
        // ports, veths and flows stay (a restarted forwarder removes them at start); sockets go
        await flows.idle();
        await undo();
      },
    };
  } catch (e) {
    await undo();
    throw e;
  }
}
