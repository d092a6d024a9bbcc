/**
 * The kernel datapath backend (NSM_DATAPATH=kernel): plumbs forwarder cross connects with Linux
 * interfaces only, each one born directly in the workload's netns and named by the mechanism.
 *
 * | incoming → outgoing | what is made |
 * |---|---|
 * | KERNEL → KERNEL (same node) | one veth pair: the NSC's end in the NSC netns, the NSE's end in the NSE netns |
 * | KERNEL → VXLAN (NSC's node) | a vxlan device in the NSC netns whose UDP socket is in the node netns |
 * | VXLAN → KERNEL (NSE's node) | the same in the NSE netns; this side picks the VNI (upstream parity rule) |
 * | KERNEL → WIREGUARD / WIREGUARD → KERNEL | a wireguard-go tun made in the node netns, then moved (and renamed) into the workload's netns |
 *
 * Each side gets its addresses and routes from the IPContext (datapath.md §2.1), and the
 * context MTU. Everything made carries the alias `nsm:<connection id>`; the backend touches no
 * link without it. A record per connection is kept in `stateDir` (records.ts: an append-only
 * journal), so a restarted forwarder adopts connections that are re-requested and removes, after
 * `staleAfterMs`, those that are not. The record is appended (synchronously, no fsync: the
 * aliases are the ground truth, the record only says where to look) *before* the interfaces are
 * made, and deleted once they are gone, so a crash at any point leaves a record for everything
 * that may exist.
 * A local connection is one native call: the veth (NSE end born in the NSE netns), both ends'
 * alias, up, addresses and routes. Close deletes off the request path (a veth delete waits an
 * RCU grace period, ~16 ms); a new Request needing the same name waits for that delete.
 *
 *   const backend = await kernelBackend({ stateDir: "/run/nsm-ts/forwarder-1", log });
 *   await createForwarder({ ..., backend, isRemote: (u) => u.startsWith("tcp:") });
 *
 * Root only.
 */
import { readFileSync, readlinkSync } from "node:fs";
import {
  cls,
  kernel,
  mechType,
  newMechanism,
  vxlan,
  wireguard,
  payload as payloads,
  type Connection,
  type Mechanism,
} from "../../../api/index.js";
import type { Ctx } from "../../../core/index.js";
import type { CrossConnect, DatapathBackend } from "../../backend.js";
import { type Logger, silentLogger } from "../../../tools/log.js";
import type { Batch } from "../../../datapath/batch.js";
import { Netns } from "../../../datapath/netns.js";
import { generateKeyPair, WireguardDevice, type WgKeyPair } from "../../../datapath/wireguard.js";
import { plumbingOf, type SideOf } from "../shared/ipcontext.js";
import { detectTunnelIp, isGone, withStaleRetry } from "../shared/stale.js";
import { openNetnsUrl, reopen } from "../shared/netnsurl.js";
import { RecordStore } from "./records.js";

export interface KernelBackendOptions {
  /** NSM_TUNNEL_IP: our end of vxlan/wireguard tunnels (default: the first global IPv4 address in our netns) */
  tunnelIp?: string;
  /** NSM_VXLAN_PORT (default 4789; both ends use the same port, as upstream) */
  vxlanPort?: number;
  /** first UDP port for wireguard-go devices (default 51820; one port per connection) */
  wireguardPort?: number;
  /** remote mechanisms offered, best first (default: [VXLAN] for ETHERNET payload, [WIREGUARD, VXLAN] for IP) */
  remoteMechanisms?: readonly string[];
  /** where per-connection records live; none: no cleanup after a restart */
  stateDir?: string;
  /** how long after start a recorded connection may be re-requested before it is removed (default 30 s) */
  staleAfterMs?: number;
  /** wireguard-go binary (default "wireguard-go") */
  wireguardBinary?: string;
  log?: Logger;
}

/** One interface we made, and where. */
export interface PlumbedEnd {
  netns: string;
  inode: string;
  ifname: string;
}

/** What the backend keeps (and writes to `stateDir`) per connection. */
export interface PlumbedRecord {
  id: string;
  kind: "veth" | "vxlan" | "wireguard";
  /** what was asked for; an equal fingerprint on refresh means "nothing to do" */
  fp: string;
  /** interfaces made; ends[0] faces the incoming side (NSC), the last the outgoing side */
  ends: PlumbedEnd[];
  /** tunnel side: "src" = the NSC's node, "dst" = the NSE's node */
  side?: SideOf;
  vni?: number;
  peerIp?: string;
  wg?: { dev: string; pid?: number; port: number; privateKey: string; publicKey: string };
}

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

const ALIAS = (id: string) => `nsm:${id}`;
/** background teardowns at once (see withRemoveSlot) */
const MAX_REMOVING = 16;
const wgName = (id: string) => kernel.ifname("wg", `nsm-ts/wg/${id}`);
const endpointOf = (ip: string, port: number) => (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`);

export async function kernelBackend(o: KernelBackendOptions = {}): Promise<KernelBackend> {
  const log = (o.log ?? silentLogger).child({ datapath: "kernel" });
  const node = Netns.current();
  const detected = o.tunnelIp ? undefined : await detectTunnelIp(node);
  const tunnelIp = o.tunnelIp ?? detected?.ip;
  const uplinkMtu = detected?.mtu ?? 1500;
  const vxlanPort = o.vxlanPort ?? 4789;
  const wgBase = o.wireguardPort ?? 51820;
  const vxlanMtu = uplinkMtu - 50; // inner ethernet (14) + vxlan (8) + udp (8) + ipv4 (20)
  const wgMtu = uplinkMtu - 80; // wireguard-go's default 1420 on a 1500 link
  if (!tunnelIp)
    log.warn("no global IPv4 address in the forwarder's netns and no NSM_TUNNEL_IP: remote mechanisms are not offered");

  const live = new Map<string, PlumbedRecord>();
  /** made by the last apply, no metrics read since */
  const fresh = new Set<string>();
  const devices = new Map<string, WireguardDevice>();
  /** client-side wireguard keys/ports offered before the next hop answered, by connection id */
  const offered = new Map<string, { keys: WgKeyPair; port: number; at: number }>();
  /** background deletes by key ("<inode>/<ifname>" or "wg:<dev>") */
  const deleting = new Map<string, Promise<void>>();
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
  const persist = (r: PlumbedRecord) => store?.put(r);
  const forget = (id: string, only?: PlumbedRecord) => store?.del(id, only);

  const usedPorts = () =>
    new Set([...[...live.values()].map((r) => r.wg?.port), ...[...offered.values()].map((w) => w.port)]);
  const allocPort = () => {
    const used = usedPorts();
    let p = wgBase;
    while (used.has(p)) p++;
    return p;
  };

  // ---- removal -------------------------------------------------------------------------------

  /** Deletes one interface if it is still ours; true when it deleted it. */
  const deleteEnd = async (id: string, e: PlumbedEnd): Promise<boolean> => {
    const ns = reopen(e.netns, e.inode);
    if (!ns) return false; // the namespace is gone, and its interfaces with it
    try {
      const l = await ns.linkByName(e.ifname).catch((err: unknown) => {
        if (isGone(err)) return undefined;
        throw err;
      });
      if (!l || l.attrs.alias !== ALIAS(id)) return false;
      // a veth delete sleeps ~20 ms (RCU): not on a pool thread that Requests' netlink work needs
      await ns.linkDel(e.ifname, { ownThread: true }).catch((err: unknown) => {
        if (!isGone(err)) throw err;
      });
      return true;
    } finally {
      ns.close();
    }
  };

  /** Stops a wireguard-go we started (or, after a restart, the recorded pid if it still is that wireguard-go). */
  const stopWg = async (r: PlumbedRecord) => {
    if (!r.wg) return;
    const dev = devices.get(r.id);
    devices.delete(r.id);
    if (dev) {
      await dev.stop();
      return;
    }
    if (r.wg.pid) {
      try {
        const cmd = readFileSync(`/proc/${r.wg.pid}/cmdline`, "utf8");
        if (cmd.includes("wireguard-go") && cmd.includes(r.wg.dev)) process.kill(r.wg.pid, "SIGTERM");
      } catch {
        /* already gone */
      }
    }
  };

  const teardown = async (r: PlumbedRecord) => {
    const errors: string[] = [];
    for (const e of r.ends) {
      try {
        // deleting one end of a veth deletes its peer: nothing left to look for
        if ((await deleteEnd(r.id, e)) && r.kind === "veth") break;
      } catch (err) {
        errors.push(`${e.ifname} in ${e.netns}: ${(err as Error).message}`);
      }
    }
    try {
      await stopWg(r);
    } catch (err) {
      errors.push(`wireguard-go ${r.wg?.dev}: ${(err as Error).message}`);
    }
    if (errors.length) throw new Error(`kernel datapath: removing connection ${r.id}: ${errors.join("; ")}`);
  };

  /**
   * At most MAX_REMOVING teardowns at once: each veth delete sleeps ~20 ms in the kernel on a
   * thread of its own (not libuv's pool), so a burst of Closes must not start a thread each.
   */
  let removing = 0;
  const removeQueue: (() => void)[] = [];
  const withRemoveSlot = async <T>(f: () => Promise<T>): Promise<T> => {
    if (removing < MAX_REMOVING) removing++;
    else await new Promise<void>((r) => removeQueue.push(r)); // the slot is handed over, count unchanged
    try {
      return await f();
    } finally {
      const next = removeQueue.shift();
      if (next) next();
      else removing--;
    }
  };

  const keysOf = (r: PlumbedRecord) => [
    ...r.ends.map((e) => `${e.inode}/${e.ifname}`),
    ...(r.wg ? [`wg:${r.wg.dev}`] : []),
  ];

  /**
   * Runs the teardown in the background; later creates of the same names wait for it. The record
   * goes once the interfaces are gone (kept when removing failed: a restart retries), unless the
   * connection was recorded again meanwhile.
   */
  const removeInBackground = (r: PlumbedRecord) => {
    // (only this record: the connection may have been re-requested, and recorded, meanwhile)
    const p = withRemoveSlot(() => teardown(r)).then(
      () => forget(r.id, r),
      (e: unknown) =>
        log.warn({ connId: r.id, err: (e as Error).message }, "kernel datapath: background remove failed"),
    );
    const keys = keysOf(r);
    const done = p.finally(() => {
      for (const k of keys) if (deleting.get(k) === done) deleting.delete(k);
    });
    for (const k of keys) deleting.set(k, done);
    return done;
  };
  const waitFor = async (keys: string[]) => {
    for (const k of keys) await deleting.get(k);
  };

  // ---- creation helpers ----------------------------------------------------------------------

  /** Adds one side's addresses and routes (from the IPContext) to `b`. */
  const sideOps = (b: Batch, side: SideOf, ifname: string, x: CrossConnect) => {
    const p = plumbingOf(x.outgoing.context?.ipContext, side, ifname);
    for (const a of p.addrs) b.addrReplace(a);
    for (const r of p.routes) b.routeReplace(r);
    return b;
  };
  const sideBatch = (
    ns: Netns,
    side: SideOf,
    ifname: string,
    x: CrossConnect,
    change: Parameters<Batch["linkSet"]>[1],
  ) => sideOps(ns.batch().linkSet(ifname, change), side, ifname, x);

  const ifnameOf = (m: Mechanism, what: string) => {
    const n = kernel.ifnameOf(m);
    if (!n) throw new Error(`${what}: the KERNEL mechanism has no interface name (parameter "name")`);
    return n;
  };
  const ctxMtu = (x: CrossConnect) => x.outgoing.context?.MTU || 0;
  const ipFp = (x: CrossConnect) =>
    JSON.stringify([
      x.outgoing.context?.ipContext?.srcIpAddrs,
      x.outgoing.context?.ipContext?.dstIpAddrs,
      x.outgoing.context?.ipContext?.srcRoutes?.map((r) => [r.prefix, r.nextHop]),
      x.outgoing.context?.ipContext?.dstRoutes?.map((r) => [r.prefix, r.nextHop]),
      ctxMtu(x),
    ]);

  // ---- the four shapes -----------------------------------------------------------------------

  async function plumbVeth(x: CrossConnect, fp: string, ctx: Ctx): Promise<PlumbedRecord> {
    const inM = x.incoming.mechanism!,
      outM = x.outgoing.mechanism!;
    const cName = ifnameOf(inM, "client side"),
      eName = ifnameOf(outM, "endpoint side");
    const cNs = openNetnsUrl(kernel.netnsUrlOf(inM), "client side");
    try {
      const eNs = openNetnsUrl(kernel.netnsUrlOf(outM), "endpoint side");
      try {
        const ends = [
          { netns: cNs.name, inode: cNs.inode(), ifname: cName },
          { netns: eNs.name, inode: eNs.inode(), ifname: eName },
        ];
        await waitFor(ends.map((e) => `${e.inode}/${e.ifname}`));
        const mtu = ctxMtu(x) || undefined;
        const alias = ALIAS(x.id);
        const rec: PlumbedRecord = { id: x.id, kind: "veth", fp, ends };
        persist(rec); // before anything exists: a crash from here on leaves a record of where to look
        await withStaleRetry(
          [
            { ns: cNs, ifname: cName },
            { ns: eNs, ifname: eName },
          ],
          async () => {
            // one native call: the pair (NSE end born in the NSE netns), both ends' alias, up,
            // addresses and routes; a refusal undoes all of it
            const b = cNs.batch().linkAdd({
              kind: "veth",
              attrs: { name: cName, mtu, up: true, alias },
              peer: { name: eName, netns: eNs, mtu, up: true },
            });
            sideOps(b, "src", cName, x);
            b.in(eNs, (eb) => sideOps(eb.linkSet(eName, { alias }), "dst", eName, x));
            await b.commit({ signal: ctx.signal });
          },
          { log },
        );
        return rec;
      } finally {
        eNs.close();
      }
    } finally {
      cNs.close();
    }
  }

  /** A tunnel end in the workload netns: `side` "src" = NSC's node (incoming KERNEL), "dst" = NSE's node. */
  async function plumbTunnel(x: CrossConnect, fp: string, side: SideOf, ctx: Ctx): Promise<PlumbedRecord> {
    if (!tunnelIp) throw new Error("no tunnel IP (set NSM_TUNNEL_IP)");
    const local = side === "src" ? x.incoming.mechanism! : x.outgoing.mechanism!;
    const tun = side === "src" ? x.outgoing.mechanism! : x.incoming.mechanism!;
    const name = ifnameOf(local, side === "src" ? "client side" : "endpoint side");
    const ns = openNetnsUrl(kernel.netnsUrlOf(local), side === "src" ? "client side" : "endpoint side");
    const alias = ALIAS(x.id);
    try {
      const end = { netns: ns.name, inode: ns.inode(), ifname: name };
      await waitFor([`${end.inode}/${end.ifname}`]);
      const cmtu = ctxMtu(x);
      if (tun.type === mechType.VXLAN) {
        const peerIp = side === "src" ? vxlan.dstIp(tun) : vxlan.srcIp(tun);
        if (!peerIp) throw new Error(`VXLAN mechanism has no ${side === "src" ? "dst_ip" : "src_ip"}`);
        let vni = vxlan.vni(tun);
        if (side === "dst" && !vni) {
          vxlan.setDstIp(tun, tunnelIp);
          const taken = new Set([...live.values()].filter((r) => r.peerIp === peerIp).map((r) => r.vni));
          do vni = vxlan.randomVni(tun);
          while (taken.has(vni));
        }
        if (!vni && side === "src") throw new Error("VXLAN mechanism from the next hop has no vni");
        const port = (side === "src" ? vxlan.dstPort(tun) : vxlan.srcPort(tun)) || vxlanPort;
        const mtu = Math.min(vxlan.mtu(tun) || vxlanMtu, vxlanMtu, cmtu || Infinity);
        if (side === "dst") {
          vxlan.setDstIp(tun, tunnelIp);
          vxlan.setDstPort(tun, vxlanPort);
          vxlan.setVni(tun, vni);
          vxlan.setMtu(tun, mtu);
        }
        const rec: PlumbedRecord = { id: x.id, kind: "vxlan", fp, ends: [end], side, vni, peerIp };
        persist(rec);
        // one native call: the device born in the workload's netns (its UDP socket stays in ours),
        // its alias, addresses and routes there; a refusal undoes all of it
        await withStaleRetry(
          [{ ns, ifname: name }],
          () =>
            node
              .batch()
              .linkAdd({
                kind: "vxlan",
                netns: ns,
                attrs: { name, mtu, up: true, alias },
                vni,
                local: tunnelIp,
                remote: peerIp,
                port,
              })
              .in(ns, (b) => sideOps(b, side, name, x))
              .commit({ signal: ctx.signal }),
          { log },
        );
        return rec;
      }
      // WIREGUARD
      const peerIp = side === "src" ? wireguard.dstIp(tun) : wireguard.srcIp(tun);
      const peerPort = side === "src" ? wireguard.dstPort(tun) : wireguard.srcPort(tun);
      const peerKey = side === "src" ? wireguard.dstPublicKey(tun) : wireguard.srcPublicKey(tun);
      if (!peerIp || !peerPort || !peerKey)
        throw new Error(`WIREGUARD mechanism lacks the peer's ${side === "src" ? "dst" : "src"}_ip/port/public_key`);
      const mine = side === "src" ? offered.get(x.id) : undefined;
      if (side === "src" && !mine) throw new Error("WIREGUARD: no key was offered for this connection");
      offered.delete(x.id);
      const keys = mine?.keys ?? generateKeyPair();
      const port = mine?.port ?? allocPort();
      const mtu = Math.min(wireguard.mtu(tun) || wgMtu, wgMtu, cmtu || Infinity);
      if (side === "dst") {
        wireguard.setDstIp(tun, tunnelIp);
        wireguard.setDstPort(tun, port);
        wireguard.setDstPublicKey(tun, keys.publicKey);
        wireguard.setMtu(tun, mtu);
      }
      const dev = wgName(x.id);
      await waitFor([`wg:${dev}`]);
      const rec: PlumbedRecord = {
        id: x.id,
        kind: "wireguard",
        fp,
        ends: [end],
        side,
        peerIp,
        wg: { dev, port, privateKey: keys.privateKey, publicKey: keys.publicKey },
      };
      persist(rec);
      const wg = await WireguardDevice.start({ netns: node, name: dev, binary: o.wireguardBinary });
      rec.wg!.pid = wg.pid;
      persist(rec); // with the pid: a restart (or nsm down) can stop it
      devices.set(x.id, wg);
      try {
        // the NSC's side keeps the tunnel alive and configures last: a handshake reaching a peer without our key is retried only after 5 s
        await wg.configure({
          privateKey: keys.privateKey,
          listenPort: port,
          peers: [
            {
              publicKey: peerKey,
              endpoint: endpointOf(peerIp, peerPort),
              allowedIps: ["0.0.0.0/0", "::/0"],
              ...(side === "src" ? { persistentKeepalive: 10 } : {}),
            },
          ],
        });
        // made in the node netns (its UDP socket stays there), then moved and renamed in one message
        await withStaleRetry([{ ns, ifname: name }], () => node.linkSet(dev, { netns: ns, name }), { log });
        await sideBatch(ns, side, name, x, { alias, mtu, up: true }).commit({ signal: ctx.signal });
        if (side === "src") {
          const left = Math.max(100, Math.min(3000, ctx.deadline - Date.now() - 100));
          await wg
            .waitHandshake(peerKey, left)
            .catch((e: unknown) =>
              log.warn({ connId: x.id, err: (e as Error).message }, "wireguard: no handshake yet"),
            );
        }
      } catch (e) {
        devices.delete(x.id);
        await wg.stop().catch(() => undefined);
        throw e;
      }
      return rec;
    } finally {
      ns.close();
    }
  }

  /** What shape a cross connect has, and the fingerprint of what it asks for. */
  function planOf(x: CrossConnect): { shape: "veth" | "tunnel"; side?: SideOf; fp: string } {
    const inM = x.incoming.mechanism,
      outM = x.outgoing.mechanism;
    if (!inM || !outM) throw new Error("cross connect without mechanisms on both sides");
    const p = (m: Mechanism, keys: string[]) => keys.map((k) => m.parameters[k] ?? "");
    const kp = (m: Mechanism) => p(m, [kernel.keys.NETNS_URL, kernel.keys.INTERFACE_NAME]);
    if (inM.type === mechType.KERNEL && outM.type === mechType.KERNEL) {
      return { shape: "veth", fp: JSON.stringify(["veth", kp(inM), kp(outM), ipFp(x)]) };
    }
    const tunKeys = ["src_ip", "src_port", "src_public_key", "dst_ip", "dst_port", "dst_public_key", "vni"];
    if (inM.type === mechType.KERNEL && (outM.type === mechType.VXLAN || outM.type === mechType.WIREGUARD)) {
      return {
        shape: "tunnel",
        side: "src",
        fp: JSON.stringify([outM.type, "src", kp(inM), p(outM, tunKeys), ipFp(x)]),
      };
    }
    if ((inM.type === mechType.VXLAN || inM.type === mechType.WIREGUARD) && outM.type === mechType.KERNEL) {
      // dst_* are ours to fill: not part of what the caller asks for
      return {
        shape: "tunnel",
        side: "dst",
        fp: JSON.stringify([inM.type, "dst", kp(outM), p(inM, ["src_ip", "src_port", "src_public_key"]), ipFp(x)]),
      };
    }
    throw new Error(`kernel datapath cannot cross-connect ${inM.type} to ${outM.type}`);
  }

  /** On a refresh of a tunnel's NSE side, the caller must get the same dst_* parameters back. */
  function restoreDst(x: CrossConnect, r: PlumbedRecord) {
    if (r.side !== "dst" || !tunnelIp) return;
    const m = x.incoming.mechanism!;
    if (r.kind === "vxlan") {
      vxlan.setDstIp(m, tunnelIp);
      vxlan.setDstPort(m, vxlanPort);
      vxlan.setVni(m, r.vni!);
    }
    if (r.kind === "wireguard" && r.wg) {
      wireguard.setDstIp(m, tunnelIp);
      wireguard.setDstPort(m, r.wg.port);
      wireguard.setDstPublicKey(m, r.wg.publicKey);
    }
  }

  let staleTimer: NodeJS.Timeout | undefined;
  const reconcile = async () => {
    const stale = [...adopted.values()];
    adopted.clear();
    for (const r of stale) {
      log.info(
        { connId: r.id, kind: r.kind, ends: r.ends.map((e) => e.ifname) },
        "kernel datapath: removing a connection not re-requested since restart",
      );
      await removeInBackground(r);
    }
    return stale.length;
  };
  if (adopted.size) {
    staleTimer = setTimeout(() => {
      void reconcile();
    }, o.staleAfterMs ?? 30_000);
    staleTimer.unref();
  }

  const pruneOffered = () => {
    const old = Date.now() - 5 * 60_000;
    for (const [k, v] of offered) if (v.at < old) offered.delete(k);
  };

  return {
    name: "kernel",
    tunnelIp,
    records: live,
    mechanisms: { local: [mechType.KERNEL], remote: [mechType.VXLAN, mechType.WIREGUARD] },

    outgoingPreferences(incoming: Connection, opt: { remote: boolean }) {
      if (!opt.remote) return [newMechanism(cls.LOCAL, mechType.KERNEL)];
      if (!tunnelIp) return [];
      const order =
        o.remoteMechanisms ??
        (incoming.payload === payloads.IP ? [mechType.WIREGUARD, mechType.VXLAN] : [mechType.VXLAN]);
      const out: Mechanism[] = [];
      for (const t of order) {
        if (t === mechType.VXLAN) {
          const m = vxlan.newVxlan(tunnelIp);
          vxlan.setSrcPort(m, vxlanPort);
          vxlan.setMtu(m, vxlanMtu);
          out.push(m);
        } else if (t === mechType.WIREGUARD) {
          pruneOffered();
          const rec = live.get(incoming.id);
          let w = offered.get(incoming.id);
          // a refresh keeps the key and port of the running device
          if (!w)
            w = rec?.wg
              ? {
                  keys: { privateKey: rec.wg.privateKey, publicKey: rec.wg.publicKey },
                  port: rec.wg.port,
                  at: Date.now(),
                }
              : { keys: generateKeyPair(), port: allocPort(), at: Date.now() };
          offered.set(incoming.id, w);
          const m = wireguard.newWireguard(tunnelIp);
          wireguard.setSrcPort(m, w.port);
          wireguard.setSrcPublicKey(m, w.keys.publicKey);
          wireguard.setMtu(m, wgMtu);
          out.push(m);
        }
      }
      return out;
    },

    async apply(x: CrossConnect, ctx: Ctx) {
      const plan = planOf(x);
      const prev = live.get(x.id);
      if (prev && prev.fp === plan.fp) {
        offered.delete(x.id);
        restoreDst(x, prev);
        return;
      }
      const stale = prev ?? adopted.get(x.id);
      let staleLeft = false;
      if (stale) {
        // changed (or left by a previous run): replace it, inline since the new one may need the same names
        live.delete(x.id);
        adopted.delete(x.id);
        log.debug({ connId: x.id }, "kernel datapath: replacing the connection's interfaces");
        await teardown(stale).catch((e: unknown) => {
          staleLeft = true;
          log.warn(
            { connId: x.id, err: (e as Error).message },
            "kernel datapath: removing the previous interfaces failed",
          );
        });
      }
      let rec: PlumbedRecord;
      try {
        rec = plan.shape === "veth" ? await plumbVeth(x, plan.fp, ctx) : await plumbTunnel(x, plan.fp, plan.side!, ctx);
      } catch (e) {
        // the failed plumbing undid itself; its write-ahead record goes (a stale one was replaced above)
        if (!live.has(x.id) && !staleLeft) forget(x.id);
        throw e;
      }
      live.set(x.id, rec);
      fresh.add(x.id);
      log.debug(
        { connId: x.id, kind: rec.kind, ends: rec.ends.map((e) => `${e.ifname}@${e.netns}`) },
        "kernel datapath: plumbed",
      );
    },

    async remove(x: CrossConnect) {
      offered.delete(x.id);
      fresh.delete(x.id);
      const r = live.get(x.id) ?? adopted.get(x.id);
      live.delete(x.id);
      adopted.delete(x.id);
      if (!r) return;
      void removeInBackground(r);
    },

    async metrics(x: CrossConnect) {
      const r = live.get(x.id);
      // a connection made just now has nothing to count yet: no reads on the first Request's path
      if (!r || fresh.delete(x.id)) return undefined;
      const kind = r.kind.toUpperCase();
      const out: Record<string, string> = {};
      const read = async (e: PlumbedEnd, side: "server" | "client") => {
        const ns = reopen(e.netns, e.inode);
        if (!ns) return;
        try {
          const s = await ns.stats(e.ifname);
          // the forwarder's view, as upstream's: rx = what the workload sent (its interface's tx)
          out[`${side}_rx_bytes`] = String(s.txBytes);
          out[`${side}_tx_bytes`] = String(s.rxBytes);
          out[`${side}_rx_packets`] = String(s.txPackets);
          out[`${side}_tx_packets`] = String(s.rxPackets);
          out[`${side}_drops`] = String(s.rxDropped + s.txDropped);
          out[`${side}_interface`] = `${kind}/${e.ifname}`;
        } catch {
          /* gone: no figures */
        } finally {
          ns.close();
        }
      };
      await read(r.ends[0]!, "server");
      await read(r.ends[r.ends.length - 1]!, "client");
      return out;
    },

    reconcile,
    async idle() {
      while (deleting.size) await Promise.all([...deleting.values()]);
    },

    async close() {
      if (staleTimer) clearTimeout(staleTimer);
      // veth/vxlan interfaces stay (a restarted forwarder adopts or removes them); wireguard-go
      // processes are ours: they stop, and their interfaces with them
      for (const [id, r] of [...live]) {
        if (!r.wg) continue;
        live.delete(id);
        await stopWg(r).catch(() => undefined);
        forget(id);
      }
      while (deleting.size) await Promise.all([...deleting.values()]);
      store?.close();
      node.close();
    },
  };
}

/** For tests: the wireguard-go pids left by a record set (to check nothing survives). */
export function wireguardPidsOf(records: Iterable<PlumbedRecord>): number[] {
  const out: number[] = [];
  for (const r of records)
    if (r.wg?.pid) {
      try {
        readlinkSync(`/proc/${r.wg.pid}/exe`);
        out.push(r.wg.pid);
      } catch {
        /* gone */
      }
    }
  return out;
}
