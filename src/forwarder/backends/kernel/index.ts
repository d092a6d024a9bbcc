/**
 * The kernel datapath backend (NSM_DATAPATH=kernel): plumbs forwarder cross connects with Linux
 * interfaces only, each one born directly in the workload's netns and named by the mechanism.
 *
 * | incoming → outgoing | what is made | unit |
 * |---|---|---|
 * | KERNEL → KERNEL (same node) | one veth pair: the NSC's end in the NSC netns, the NSE's end in the NSE netns | veth.ts |
 * | KERNEL → VXLAN (NSC's node) | a vxlan device in the NSC netns whose UDP socket is in the node netns | tunnel.ts, vxlan.ts |
 * | VXLAN → KERNEL (NSE's node) | the same in the NSE netns; this side picks the VNI (upstream parity rule) | tunnel.ts, vxlan.ts |
 * | KERNEL → WIREGUARD / WIREGUARD → KERNEL | a wireguard-go tun made in the node netns, then moved (and renamed) into the workload's netns | tunnel.ts, wireguard.ts |
 *
 * Each side gets its addresses and routes from the IPContext (shared/ipcontext.ts, as upstream
 * sdk-kernel's `connectioncontextkernel` does) and the context MTU. Everything made carries the
 * alias `nsm:<connection id>`; the backend touches no link without it. A record per connection is
 * kept in `stateDir` (records.ts: an append-only journal), so a restarted forwarder adopts
 * connections that are re-requested and removes, after `staleAfterMs`, those that are not. The
 * record is appended (synchronously, no fsync: the aliases are the ground truth, the record only
 * says where to look) *before* the interfaces are made, and deleted once they are gone, so a
 * crash at any point leaves a record for everything that may exist.
 * A local connection is one native call: the veth (NSE end born in the NSE netns), both ends'
 * alias, up, addresses and routes. Close deletes off the request path (remover.ts: a veth delete
 * waits an RCU grace period, ~16 ms); a new Request needing the same name waits for that delete.
 *
 *   const backend = await kernelBackend({ stateDir: "/run/nsm-ts/forwarder-1", log });
 *   await createForwarder({ ..., backend, isRemote: (u) => u.startsWith("tcp:") });
 *
 * Root only.
 */
import { cls, mechType, newMechanism, vxlan, payload as payloads, type Mechanism } from "../../../api/index.js";
import { Netns } from "../../../datapath/netns.js";
import { silentLogger } from "../../../tools/log.js";
import type { DatapathBackend } from "../../backend.js";
import { detectTunnelIp } from "../shared/stale.js";
import { readMetrics } from "./metrics.js";
import { planOf, restoreDst } from "./plan.js";
import { RecordStore } from "./records.js";
import { Remover } from "./remover.js";
import { plumbTunnel } from "./tunnel.js";
import type { KernelBackendOptions, KernelEnv, PlumbedRecord } from "./types.js";
import { plumbVeth } from "./veth.js";
import { WireguardTunnels } from "./wireguard.js";

export type { KernelBackendOptions, PlumbedEnd, PlumbedRecord } from "./types.js";
export { wireguardPidsOf } from "./wireguard.js";

export interface KernelBackend extends DatapathBackend {
  /** our tunnel address (undefined: remote mechanisms are not offered) */
  readonly tunnelIp: string | undefined;
  /** live connections */
  readonly records: ReadonlyMap<string, PlumbedRecord>;
  /** removes recorded connections that were not re-requested since start, now (normally after staleAfterMs) */
  reconcile(): Promise<number>;
  /** resolves when every background delete has finished */
  idle(): Promise<void>;
}

export async function kernelBackend(o: KernelBackendOptions = {}): Promise<KernelBackend> {
  const log = (o.log ?? silentLogger).child({ datapath: "kernel" });
  const node = Netns.current();
  const detected = o.tunnelIp ? undefined : await detectTunnelIp(node);
  const tunnelIp = o.tunnelIp ?? detected?.ip;
  const uplinkMtu = detected?.mtu ?? 1500;
  if (!tunnelIp)
    log.warn("no global IPv4 address in the forwarder's netns and no NSM_TUNNEL_IP: remote mechanisms are not offered");

  const live = new Map<string, PlumbedRecord>();
  /** made by the last apply, no metrics read since */
  const fresh = new Set<string>();
  /** records from a previous run, until re-requested or reconciled */
  const adopted = new Map<string, PlumbedRecord>();

  // records of the connections, written ahead of the interfaces (records.ts): where to look after a crash
  const opened = o.stateDir ? RecordStore.open<PlumbedRecord>(o.stateDir, log) : undefined;
  const store = opened?.store;
  for (const [id, r] of opened?.loaded ?? []) adopted.set(id, r);
  if (adopted.size)
    log.info(
      { count: adopted.size },
      "kernel datapath: connections from a previous run; those not re-requested will be removed",
    );

  let wg: WireguardTunnels;
  const remover = new Remover(
    log,
    (r) => wg.stop(r),
    (r) => store?.del(r.id, r),
  );
  const env: KernelEnv = {
    node,
    log,
    tunnelIp,
    vxlanPort: o.vxlanPort ?? 4789,
    vxlanMtu: uplinkMtu - 50, // inner ethernet (14) + vxlan (8) + udp (8) + ipv4 (20)
    wgMtu: uplinkMtu - 80, // wireguard-go's default 1420 on a 1500 link
    live,
    persist: (r) => store?.put(r),
    waitFor: (keys) => remover.waitFor(keys),
  };
  wg = new WireguardTunnels(env, { basePort: o.wireguardPort ?? 51820, binary: o.wireguardBinary });

  const reconcile = async () => {
    const stale = [...adopted.values()];
    adopted.clear();
    for (const r of stale) {
      log.info(
        { connId: r.id, kind: r.kind, ends: r.ends.map((e) => e.ifname) },
        "kernel datapath: removing a connection not re-requested since restart",
      );
      await remover.inBackground(r);
    }
    return stale.length;
  };
  let staleTimer: NodeJS.Timeout | undefined;
  if (adopted.size) {
    staleTimer = setTimeout(() => {
      void reconcile();
    }, o.staleAfterMs ?? 30_000);
    staleTimer.unref();
  }

  return {
    name: "kernel",
    tunnelIp,
    records: live,
    mechanisms: { local: [mechType.KERNEL], remote: [mechType.VXLAN, mechType.WIREGUARD] },

    outgoingPreferences(incoming, opt) {
      if (!opt.remote) return [newMechanism(cls.LOCAL, mechType.KERNEL)];
      if (!tunnelIp) return [];
      const order =
        o.remoteMechanisms ??
        (incoming.payload === payloads.IP ? [mechType.WIREGUARD, mechType.VXLAN] : [mechType.VXLAN]);
      const out: Mechanism[] = [];
      for (const t of order) {
        if (t === mechType.VXLAN) {
          const m = vxlan.newVxlan(tunnelIp);
          vxlan.setSrcPort(m, env.vxlanPort);
          vxlan.setMtu(m, env.vxlanMtu);
          out.push(m);
        } else if (t === mechType.WIREGUARD && incoming.payload === payloads.IP) {
          out.push(wg.offer(incoming.id));
        }
      }
      return out;
    },

    async apply(x, ctx) {
      const plan = planOf(x);
      const prev = live.get(x.id);
      if (prev && prev.fp === plan.fp) {
        wg.forgetOffer(x.id);
        restoreDst(x, prev, tunnelIp, env.vxlanPort);
        return;
      }
      const stale = prev ?? adopted.get(x.id);
      let staleLeft = false;
      if (stale) {
        // changed (or left by a previous run): replace it, inline since the new one may need the same names
        live.delete(x.id);
        adopted.delete(x.id);
        log.debug({ connId: x.id }, "kernel datapath: replacing the connection's interfaces");
        await remover.teardown(stale).catch((e: unknown) => {
          staleLeft = true;
          log.warn(
            { connId: x.id, err: (e as Error).message },
            "kernel datapath: removing the previous interfaces failed",
          );
        });
      }
      let rec: PlumbedRecord;
      try {
        rec =
          plan.shape === "veth"
            ? await plumbVeth(env, x, plan.fp, ctx)
            : await plumbTunnel(env, wg, x, plan.fp, plan.side!, ctx);
      } catch (e) {
        // the failed plumbing undid itself; its write-ahead record goes (a stale one was replaced above)
        if (!live.has(x.id) && !staleLeft) store?.del(x.id);
        throw e;
      }
      live.set(x.id, rec);
      fresh.add(x.id);
      log.debug(
        { connId: x.id, kind: rec.kind, ends: rec.ends.map((e) => `${e.ifname}@${e.netns}`) },
        "kernel datapath: plumbed",
      );
    },

    async remove(x) {
      wg.forgetOffer(x.id);
      fresh.delete(x.id);
      const r = live.get(x.id) ?? adopted.get(x.id);
      live.delete(x.id);
      adopted.delete(x.id);
      if (!r) return;
      void remover.inBackground(r);
    },

    async metrics(x) {
      const r = live.get(x.id);
      // a connection made just now has nothing to count yet: no reads on the first Request's path
      if (!r || fresh.delete(x.id)) return undefined;
      return readMetrics(r);
    },

    reconcile,
    idle: () => remover.idle(),

    async close() {
      if (staleTimer) clearTimeout(staleTimer);
      // veth/vxlan interfaces stay (a restarted forwarder adopts or removes them); wireguard-go
      // processes are ours: they stop, and their interfaces with them
      for (const [id, r] of [...live]) {
        if (!r.wg) continue;
        live.delete(id);
        await wg.stop(r).catch(() => undefined);
        store?.del(id);
      }
      await remover.idle();
      store?.close();
      node.close();
    },
  };
}
