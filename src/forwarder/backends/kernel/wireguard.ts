/**
 * WIREGUARD tunnels of the kernel backend: one wireguard-go process (and UDP port) per
 * connection. The NSC's node offers its public key and port before the next hop answers
 * (`offer`); the NSE's node makes a key pair when the request arrives and answers with it. The
 * device is made in the node's netns (its UDP socket stays there), configured, then moved into
 * the workload's netns and renamed in one message.
 *
 *   const wg = new WireguardTunnels(env, { basePort: 51820 });
 *   const m = wg.offer(incoming.id);   // outgoing preference on the NSC's node
 *   const rec = await wg.plumb(t);     // from tunnel.ts
 *   await wg.stop(rec);                // on removal
 */
import { readFileSync, readlinkSync } from "node:fs";
import { kernel, wireguard, type Mechanism } from "../../../api/index.js";
import { generateKeyPair, WireguardDevice, type WgKeyPair } from "../../../datapath/wireguard.js";
import { addSideOps } from "../shared/plumbing.js";
import { withStaleRetry } from "../shared/stale.js";
import type { TunnelEnd } from "./tunnel.js";
import type { KernelEnv, PlumbedRecord } from "./types.js";

const wgName = (id: string) => kernel.ifname("wg", `nsm-ts/wg/${id}`);
const endpointOf = (ip: string, port: number) => (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`);
/** an offer the next hop never answered is dropped after this long */
const OFFER_TTL_MS = 5 * 60_000;

export class WireguardTunnels {
  /** running wireguard-go processes we started, by connection id */
  private readonly devices = new Map<string, WireguardDevice>();
  /** client-side keys/ports offered before the next hop answered, by connection id */
  private readonly offered = new Map<string, { keys: WgKeyPair; port: number; at: number }>();

  constructor(
    private readonly env: KernelEnv,
    private readonly o: { basePort: number; binary?: string },
  ) {}

  /** The WIREGUARD mechanism to offer the next hop for connection `id` (a refresh keeps key and port). */
  offer(id: string): Mechanism {
    this.pruneOffers();
    const rec = this.env.live.get(id);
    let w = this.offered.get(id);
    if (!w)
      w = rec?.wg
        ? { keys: { privateKey: rec.wg.privateKey, publicKey: rec.wg.publicKey }, port: rec.wg.port, at: Date.now() }
        : { keys: generateKeyPair(), port: this.allocPort(), at: Date.now() };
    this.offered.set(id, w);
    const m = wireguard.newWireguard(this.env.tunnelIp!);
    wireguard.setSrcPort(m, w.port);
    wireguard.setSrcPublicKey(m, w.keys.publicKey);
    wireguard.setMtu(m, this.env.wgMtu);
    return m;
  }

  /** Drops what was offered for connection `id` (plumbed, unchanged on refresh, or closed). */
  forgetOffer(id: string): void {
    this.offered.delete(id);
  }

  async plumb(t: TunnelEnd): Promise<PlumbedRecord> {
    const { x, side, tun, ns, name, tunnelIp, ctx } = t;
    const env = this.env;
    const peerIp = side === "src" ? wireguard.dstIp(tun) : wireguard.srcIp(tun);
    const peerPort = side === "src" ? wireguard.dstPort(tun) : wireguard.srcPort(tun);
    const peerKey = side === "src" ? wireguard.dstPublicKey(tun) : wireguard.srcPublicKey(tun);
    if (!peerIp || !peerPort || !peerKey)
      throw new Error(`WIREGUARD mechanism lacks the peer's ${side === "src" ? "dst" : "src"}_ip/port/public_key`);
    const mine = side === "src" ? this.offered.get(x.id) : undefined;
    if (side === "src" && !mine) throw new Error("WIREGUARD: no key was offered for this connection");
    this.offered.delete(x.id);
    const keys = mine?.keys ?? generateKeyPair();
    const port = mine?.port ?? this.allocPort();
    const mtu = Math.min(wireguard.mtu(tun) || env.wgMtu, env.wgMtu, t.cmtu || Infinity);
    if (side === "dst") {
      wireguard.setDstIp(tun, tunnelIp);
      wireguard.setDstPort(tun, port);
      wireguard.setDstPublicKey(tun, keys.publicKey);
      wireguard.setMtu(tun, mtu);
    }
    const dev = wgName(x.id);
    await env.waitFor([`wg:${dev}`]);
    const rec: PlumbedRecord = {
      id: x.id,
      kind: "wireguard",
      fp: t.fp,
      ends: [t.end],
      side,
      peerIp,
      wg: { dev, port, privateKey: keys.privateKey, publicKey: keys.publicKey },
    };
    env.persist(rec);
    const wg = await WireguardDevice.start({ netns: env.node, name: dev, binary: this.o.binary });
    rec.wg!.pid = wg.pid;
    env.persist(rec); // with the pid: a restart (or nsm down) can stop it
    this.devices.set(x.id, wg);
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
      await withStaleRetry([{ ns, ifname: name }], () => env.node.linkSet(dev, { netns: ns, name }), { log: env.log });
      const b = ns.batch().linkSet(name, { alias: t.alias, mtu, up: true });
      await addSideOps(b, x, side, name).commit({ signal: ctx.signal });
      if (side === "src") {
        const left = Math.max(100, Math.min(3000, ctx.deadline - Date.now() - 100));
        await wg
          .waitHandshake(peerKey, left)
          .catch((e: unknown) =>
            env.log.warn({ connId: x.id, err: (e as Error).message }, "wireguard: no handshake yet"),
          );
      }
    } catch (e) {
      this.devices.delete(x.id);
      await wg.stop().catch(() => undefined);
      throw e;
    }
    return rec;
  }

  /** Stops a wireguard-go we started (or, after a restart, the recorded pid if it still is that wireguard-go). */
  async stop(r: PlumbedRecord): Promise<void> {
    if (!r.wg) return;
    const dev = this.devices.get(r.id);
    this.devices.delete(r.id);
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
  }

  private allocPort(): number {
    const used = new Set([
      ...[...this.env.live.values()].map((r) => r.wg?.port),
      ...[...this.offered.values()].map((w) => w.port),
    ]);
    let p = this.o.basePort;
    while (used.has(p)) p++;
    return p;
  }

  private pruneOffers(): void {
    const old = Date.now() - OFFER_TTL_MS;
    for (const [k, v] of this.offered) if (v.at < old) this.offered.delete(k);
  }
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
