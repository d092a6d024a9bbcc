/**
 * The VPP datapath backend (NSM_DATAPATH=vpp): plumbs cross connects in FD.io VPP over its binary
 * API (src/vpp), as upstream forwarder-vpp does.
 *
 * | incoming → outgoing | what is made | unit |
 * |---|---|---|
 * | KERNEL → KERNEL (same node) | per side a veth pair (workload end in the workload's netns) read by a VPP af_packet interface; IP payload: l3xc both ways, ETHERNET: l2 xconnect | kernel-side.ts, xconnect.ts |
 * | MEMIF → KERNEL (same node) | VPP's memif master on an abstract socket in the NSC's netns; the KERNEL side as above | memif-side.ts |
 * | KERNEL → MEMIF, MEMIF → MEMIF (same node) | toward the NSE VPP's memif slave connecting to the socket the NSE's answer names (abstract in its netns, or a path); the other side as above | memif-side.ts |
 * | KERNEL → WIREGUARD / WIREGUARD → KERNEL (IP payload) | the KERNEL side as above, a VPP wireguard interface and peer over the uplink, l3xc | wireguard.ts |
 * | KERNEL → VXLAN / VXLAN → KERNEL (ETHERNET payload) | the KERNEL side as above, a VPP vxlan tunnel over the uplink (uplink.ts), l2 xconnect | vxlan.ts |
 *
 * Every VPP interface we make carries the connection id as its tag; Close removes the cross
 * connect, the neighbours and the interfaces (and with them the veth pairs). A failed Request
 * undoes what it made. Path-segment metrics are the interfaces' counters from VPP's stats
 * segment (`server_*` = NSC-facing, `client_*` = NSE-facing).
 *
 * With `apiSocket` (NSM_VPP_API_SOCKET) the backend uses that VPP; without, it starts its own
 * (src/vpp/launch.ts) in `runDir` and stops it on close.
 *
 *   const backend = await vppBackend({ apiSocket: "/run/vpp/api.sock", log }); // root only
 */
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cls, kernel, mechType, memif, newMechanism, payload, vxlan, wireguard } from "../../../api/index.js";
import { newCtx } from "../../../core/index.js";
import { Netns } from "../../../datapath/netns.js";
import { NsmError, status } from "../../../tools/errors.js";
import { silentLogger } from "../../../tools/log.js";
import { toAddress } from "../../../vpp/address.js";
import { VppClient } from "../../../vpp/client.js";
import { launchVpp, type LaunchedVpp } from "../../../vpp/launch.js";
import { vppStats, type VppStats } from "../../../vpp/stats.js";
import type { CrossConnect, DatapathBackend } from "../../backend.js";
import { ipFingerprint, putSideMetrics } from "../shared/plumbing.js";
import { applyRules, hasAcl, removeRules } from "./acl.js";
import { kernelSide } from "./kernel-side.js";
import { MEMIF_MESSAGES, memifClientSide, memifEndpointSide, memifLinkUp, memifSocketName } from "./memif-side.js";
import { initUplink, type Uplink } from "./uplink.js";
import { removeVxlan, vxlanSide } from "./vxlan.js";
import { removeWireguard, WG_PORT, WgOffers, wireguardSide } from "./wireguard.js";
import type { VppBackendOptions, VppEnv, VppRecord, VppSide } from "./types.js";
import { unXconnect, xconnect } from "./xconnect.js";

export type { VppBackendOptions, VppRecord, VppSide } from "./types.js";

/** Messages this backend sends: a VPP without any of them is refused at start, naming it. */
export const VPP_MESSAGES = [
  "af_packet_create_v3",
  "af_packet_delete",
  "sw_interface_tag_add_del",
  "sw_interface_set_mtu",
  "sw_interface_set_flags",
  "sw_interface_dump",
  "ip_neighbor_add_del",
  "sw_interface_set_l2_xconnect",
  "l3xc_update",
  "l3xc_del",
  "add_node_next",
  "vxlan_add_del_tunnel_v3",
  "sw_interface_add_del_address",
  ...MEMIF_MESSAGES,
] as const;
/** needed only for WIREGUARD (the wireguard plugin) */
const WG_MESSAGES = [
  "wireguard_interface_create",
  "wireguard_interface_delete",
  "wireguard_peer_add",
  "wireguard_peer_remove",
];

export interface VppBackend extends DatapathBackend {
  readonly vpp: VppClient;
  /** our own VPP, when we started one */
  readonly launched: LaunchedVpp | undefined;
  readonly records: ReadonlyMap<string, VppRecord>;
  /** the af_packet uplink carrying our tunnel address (when NSM_TUNNEL_IP is set) */
  readonly uplink: Uplink | undefined;
}

export async function vppBackend(o: VppBackendOptions = {}): Promise<VppBackend> {
  const log = (o.log ?? silentLogger).child({ datapath: "vpp" });
  let launched: LaunchedVpp | undefined;
  let apiSocket = o.apiSocket;
  if (!apiSocket) {
    const runDir = o.runDir ?? join(tmpdir(), `nsm-vpp-${process.pid}`);
    launched = await launchVpp({ dir: runDir, ...(o.netns ? { netns: o.netns } : {}) });
    apiSocket = launched.apiSocket;
    log.info({ pid: launched.pid, runDir }, "vpp datapath: started our own VPP");
  }
  let vpp: VppClient;
  // a VPP that is not up yet (socket missing or refusing) is waited for, retrying every second
  for (const until = Date.now() + (o.connectTimeoutMs ?? 30_000); ;) {
    try {
      vpp = await VppClient.connect(apiSocket, { name: "nsm-forwarder", require: VPP_MESSAGES, reconnect: true, log });
      break;
    } catch (e) {
      if ((e as NsmError).code !== status.UNAVAILABLE || Date.now() >= until) {
        await launched?.stop();
        throw e;
      }
      log.warn({ err: (e as Error).message }, "vpp datapath: VPP not reachable yet, retrying");
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const node = o.netns ? Netns.open(o.netns) : Netns.current();
  const env: VppEnv = { vpp, node, log };
  const statsSocket = o.statsSocket ?? join(dirname(apiSocket), "stats.sock");
  let stats: VppStats | undefined;
  const live = new Map<string, VppRecord>();
  let uplink: Uplink | undefined;
  const wgOffers = new WgOffers();
  const wgAvailable = WG_MESSAGES.every((m) => vpp.has(m));
  /** what each live connection was last applied with: reapplied after VPP restarts */
  const applied = new Map<string, CrossConnect>();
  let closing = false;
  if (o.tunnelIp) {
    try {
      uplink = await initUplink(vpp, node, o.tunnelIp);
    } catch (e) {
      await vpp.close();
      node.close();
      await launched?.stop();
      throw e;
    }
  }
  const vxlanPort = o.vxlanPort ?? 4789;
  const endpointMechs = o.endpointMechanisms ?? [mechType.KERNEL, mechType.MEMIF];
  const tunnelEnv = () => {
    if (!uplink) throw new Error("vpp datapath: no NSM_TUNNEL_IP, so no VXLAN");
    return { ...env, tunnelIp: uplink.ip, vxlanPort, live };
  };

  /** removes what a record names, best effort, newest first */
  const teardown = async (r: VppRecord) => {
    if (r.acls) await quiet(removeRules(vpp, r.sides[0]!.swIfIndex, r.acls));
    await unXconnect(vpp, r);
    for (const s of [...r.sides].reverse()) await removeSide(s);
  };
  const quiet = (p: Promise<unknown>) => p.catch(() => undefined);
  const removeSide = async (s: VppSide) => {
    for (const n of s.neighbours)
      await quiet(
        vpp.request("ip_neighbor_add_del", {
          is_add: false,
          neighbor: { sw_if_index: s.swIfIndex, ip_address: toAddress(n.ip) },
        }),
      );
    if (s.kind === "vxlan") await quiet(removeVxlan(vpp, s));
    if (s.pinhole) await quiet(s.pinhole.on.close(s.pinhole.port));
    if (s.kind === "wireguard") await removeWireguard(vpp, s);
    if (s.kind === "memif") {
      await quiet(vpp.request("memif_delete", { sw_if_index: s.swIfIndex }));
      await quiet(vpp.request("memif_socket_filename_add_del_v2", { is_add: false, socket_id: s.memifSocketId }));
    }
    if (s.kind === "afpacket" && s.veth) {
      await quiet(vpp.request("af_packet_delete", { host_if_name: s.veth }));
      await quiet(node.linkDel(s.veth));
    }
  };

  const planOf = (x: CrossConnect) => {
    const inM = x.incoming.mechanism,
      outM = x.outgoing.mechanism;
    if (!inM || !outM) throw new Error("cross connect without mechanisms on both sides");
    const kp = (m: typeof inM) => [kernel.netnsUrlOf(m), kernel.ifnameOf(m)];
    const tp = (m: typeof inM, keys: string[]) => keys.map((k) => m.parameters[k] ?? "");
    const mp = (m: typeof inM) => [memif.socketFileOf(m), memif.inodeUrlOf(m)];
    const base = [x.incoming.payload, ipFingerprint(x)];
    if (inM.type === mechType.KERNEL && outM.type === mechType.KERNEL)
      return { shape: "local" as const, fp: JSON.stringify(["kernel", kp(inM), kp(outM), ...base]) };
    if (inM.type === mechType.MEMIF && outM.type === mechType.KERNEL)
      return { shape: "memif" as const, fp: JSON.stringify(["memif", memif.inodeUrlOf(inM), kp(outM), ...base]) };
    if (inM.type === mechType.KERNEL && outM.type === mechType.MEMIF)
      return { shape: "to-memif" as const, fp: JSON.stringify(["to-memif", kp(inM), mp(outM), ...base]) };
    if (inM.type === mechType.MEMIF && outM.type === mechType.MEMIF)
      return {
        shape: "memif-memif" as const,
        fp: JSON.stringify(["memif-memif", memif.inodeUrlOf(inM), mp(outM), ...base]),
      };
    const wgKeys = ["src_ip", "src_port", "src_public_key", "dst_ip", "dst_port", "dst_public_key"];
    if (inM.type === mechType.KERNEL && outM.type === mechType.WIREGUARD)
      return { shape: "wg-src" as const, fp: JSON.stringify(["wg-src", kp(inM), tp(outM, wgKeys), ...base]) };
    if (inM.type === mechType.WIREGUARD && outM.type === mechType.KERNEL)
      return {
        shape: "wg-dst" as const,
        fp: JSON.stringify(["wg-dst", tp(inM, wgKeys.slice(0, 3)), kp(outM), ...base]),
      };
    if (inM.type === mechType.KERNEL && outM.type === mechType.VXLAN)
      return {
        shape: "src" as const,
        fp: JSON.stringify(["vxlan-src", kp(inM), tp(outM, ["dst_ip", "dst_port", "vni"]), ...base]),
      };
    if (inM.type === mechType.VXLAN && outM.type === mechType.KERNEL)
      return {
        shape: "dst" as const,
        fp: JSON.stringify(["vxlan-dst", tp(inM, ["src_ip", "src_port"]), kp(outM), ...base]),
      };
    throw new Error(`vpp datapath cannot cross-connect ${inM.type} to ${outM.type}`);
  };

  /** VPP came back (our supervisor restarted it, or someone restarted an external one): it has none of our state */
  const reapply = async () => {
    stats?.close();
    stats = undefined;
    if (o.tunnelIp)
      uplink = await initUplink(vpp, node, o.tunnelIp).catch((e: unknown) => {
        log.error({ err: (e as Error).message }, "vpp datapath: uplink after VPP restart failed");
        return undefined;
      });
    const all = [...applied.values()];
    live.clear();
    applied.clear();
    log.info({ connections: all.length }, "vpp datapath: VPP restarted, reapplying connections");
    for (const x of all)
      await backend.apply(x, newCtx({ timeoutMs: 10_000 })).catch((e: unknown) => {
        log.warn({ connId: x.id, err: (e as Error).message }, "vpp datapath: reapplying a connection failed");
      });
  };
  vpp.onReconnect(() => void reapply());
  const supervise = (l: LaunchedVpp) =>
    void l.exited.then(async () => {
      if (closing) return;
      log.warn({ pid: l.pid }, "vpp datapath: our VPP exited; restarting it");
      for (let delay = 200; !closing; delay = Math.min(delay * 2, 5000)) {
        try {
          launched = await launchVpp({ dir: l.dir, ...(o.netns ? { netns: o.netns } : {}) });
          supervise(launched);
          return;
        } catch (e) {
          log.warn({ err: (e as Error).message }, "vpp datapath: restarting VPP failed");
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    });
  if (launched) supervise(launched);

  const backend: VppBackend = {
    name: "vpp",
    vpp,
    get launched() {
      return launched;
    },
    records: live,
    get uplink() {
      return uplink;
    },
    mechanisms: {
      local: [mechType.KERNEL, mechType.MEMIF],
      remote: uplink ? [mechType.VXLAN, ...(wgAvailable ? [mechType.WIREGUARD] : [])] : [],
    },

    outgoingPreferences(incoming, opt) {
      if (!opt.remote) return endpointMechs.map((t) => newMechanism(cls.LOCAL, t));
      if (!uplink) return [];
      // WIREGUARD carries IP payload, VXLAN ETHERNET payload, as upstream forwarder-vpp
      if (incoming.payload !== payload.ETHERNET) return wgAvailable ? [wgOffers.offer(incoming.id, uplink.ip)] : [];
      const m = vxlan.newVxlan(uplink.ip);
      vxlan.setSrcPort(m, vxlanPort);
      vxlan.setMtu(m, uplink.mtu - 50);
      return [m];
    },

    async apply(x, ctx) {
      const plan = planOf(x);
      const prev = live.get(x.id);
      if (prev && prev.fp === plan.fp) {
        if (plan.shape === "memif" || plan.shape === "memif-memif")
          memif.setSocketFile(x.incoming.mechanism!, `@${memifSocketName(x.id)}`);
        const wgSide = prev.sides.find((d) => d.kind === "wireguard");
        if (plan.shape === "wg-dst" && uplink && wgSide) {
          const m = x.incoming.mechanism!;
          wireguard.setDstIp(m, uplink.ip);
          wireguard.setDstPort(m, WG_PORT);
          wireguard.setDstPublicKey(m, wgSide.wgPublicKey!);
        }
        if (plan.shape === "dst" && uplink) {
          // a refresh of the NSE's side: the same dst_* and vni as the first time
          const m = x.incoming.mechanism!;
          vxlan.setDstIp(m, uplink.ip);
          vxlan.setDstPort(m, vxlanPort);
          vxlan.setVni(m, prev.vni!);
        }
        return;
      }
      if (prev) {
        live.delete(x.id);
        await teardown(prev);
      }
      const undo: (() => Promise<unknown>)[] = [];
      const rec: VppRecord = {
        id: x.id,
        fp: plan.fp,
        sides: [],
        xc: x.incoming.payload === payload.ETHERNET || plan.shape === "src" || plan.shape === "dst" ? "l2" : "l3",
      };
      try {
        if (plan.shape === "wg-dst")
          rec.sides.push(await wireguardSide(tunnelEnv(), x, x.incoming.mechanism!, "dst", undefined, undo));
        else if (plan.shape === "dst") {
          const v = await vxlanSide(tunnelEnv(), x, x.incoming.mechanism!, "dst", undo);
          rec.vni = v.vni;
          rec.sides.push(v);
        } else if (plan.shape === "memif" || plan.shape === "memif-memif")
          rec.sides.push(await memifClientSide(env, x, x.incoming.mechanism!, undo));
        else
          rec.sides.push(await kernelSide(env, x, x.incoming.mechanism!, "client", ctx, undo, plan.shape === "local"));
        if (plan.shape === "wg-src")
          rec.sides.push(
            await wireguardSide(tunnelEnv(), x, x.outgoing.mechanism!, "src", wgOffers.take(x.incoming.id), undo),
          );
        else if (plan.shape === "src") {
          const v = await vxlanSide(tunnelEnv(), x, x.outgoing.mechanism!, "src", undo);
          rec.vni = v.vni;
          rec.sides.push(v);
        } else if (plan.shape === "to-memif" || plan.shape === "memif-memif")
          rec.sides.push(await memifEndpointSide(env, x, x.outgoing.mechanism!, undo));
        else
          rec.sides.push(
            await kernelSide(env, x, x.outgoing.mechanism!, "endpoint", ctx, undo, plan.shape === "local"),
          );
        for (const s of rec.sides) {
          const on = uplink?.pinholes;
          if ((s.kind !== "vxlan" && s.kind !== "wireguard") || !on) continue;
          s.pinhole = { port: s.vxlan?.port ?? WG_PORT, on };
          await on.open(s.pinhole.port);
          undo.push(() => on.close(s.pinhole!.port));
        }
        await xconnect(vpp, rec, x.outgoing.context?.ipContext);
        if (o.aclRules?.length && hasAcl(vpp)) {
          const acls = await applyRules(vpp, rec.sides[0]!.swIfIndex, o.aclRules);
          undo.push(() => removeRules(vpp, rec.sides[0]!.swIfIndex, acls));
          rec.acls = acls;
        }
        // upstream's order: the NSE-facing interface first, then the NSC-facing one
        for (const s of [...rec.sides].reverse())
          await vpp.request("sw_interface_set_flags", { sw_if_index: s.swIfIndex, flags: 1 });
        // the NSE's memif master must have answered (the NSC's connects after we return)
        if (rec.sides[1]?.kind === "memif") await memifLinkUp(env, x, rec.sides[1], ctx);
      } catch (e) {
        log.debug({ connId: x.id, err: (e as Error).message }, "vpp datapath: request failed, undoing");
        await unXconnect(vpp, rec);
        for (const u of undo.reverse()) await quiet(u());
        throw e;
      }
      live.set(x.id, rec);
      applied.set(x.id, x);
      log.debug({ connId: x.id, sides: rec.sides.map((s) => s.iface) }, "vpp datapath: plumbed");
    },

    async remove(x) {
      wgOffers.take(x.incoming.id);
      const r = live.get(x.id);
      live.delete(x.id);
      applied.delete(x.id);
      if (r) await teardown(r);
    },

    async metrics(x) {
      const r = live.get(x.id);
      if (!r) return undefined;
      try {
        stats ??= vppStats(statsSocket);
      } catch (e) {
        log.debug({ err: (e as Error).message }, "vpp datapath: no stats segment");
        return undefined;
      }
      const all = stats.interfaces();
      const out: Record<string, string> = {};
      r.sides.forEach((s, i) => {
        const c = all.find((a) => a.swIfIndex === s.swIfIndex);
        if (!c) return;
        putSideMetrics(out, i === 0 ? "server" : "client", s.iface, {
          rxBytes: c.rx.bytes,
          rxPackets: c.rx.packets,
          txBytes: c.tx.bytes,
          txPackets: c.tx.packets,
          drops: c.drops,
        });
      });
      return out;
    },

    async close() {
      closing = true;
      stats?.close();
      await vpp.close();
      node.close();
      if (launched) {
        await launched.stop();
        log.info("vpp datapath: stopped our VPP");
      }
    },
  };
  return backend;
}

/** True when a VPP binary is installed (for NSM_DATAPATH=vpp without NSM_VPP_API_SOCKET). */
export const vppInstalled = (): boolean => existsSync(process.env.NSM_VPP_BIN ?? "/opt/vpp/bin/vpp");
