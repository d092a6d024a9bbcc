/**
 * A WIREGUARD side in VPP (sdk-vpp `mechanisms/wireguard`), IP payload only as upstream: a VPP
 * wireguard interface with our key, bound to our tunnel address and port, and one peer (the
 * other node's key, address and port; keepalive 10 s; allowed IPs 0.0.0.0/0 and ::/0). The NSC's
 * node offers its public key with the preference; the NSE's node answers with its own.
 */
import { wireguard as wg, type Mechanism } from "../../../api/index.js";
import { generateKeyPair, type WgKeyPair } from "../../../datapath/wireguard.js";
import { toAddress, toPrefix } from "../../../vpp/address.js";
import type { VppClient } from "../../../vpp/client.js";
import type { CrossConnect } from "../../backend.js";
import type { VppEnv, VppSide } from "./types.js";

export const WG_PORT = 51820;
const key = (b64: string) => new Uint8Array(Buffer.from(b64, "base64"));

/** Keys offered by the NSC's node, by connection id, until its apply. */
export class WgOffers {
  private readonly keys = new Map<string, WgKeyPair>();
  offer(id: string, tunnelIp: string): Mechanism {
    const k = this.keys.get(id) ?? generateKeyPair();
    this.keys.set(id, k);
    const m = wg.newWireguard(tunnelIp);
    wg.setSrcPort(m, WG_PORT);
    wg.setSrcPublicKey(m, k.publicKey);
    return m;
  }
  take(id: string): WgKeyPair | undefined {
    const k = this.keys.get(id);
    this.keys.delete(id);
    return k;
  }
}

export async function wireguardSide(
  env: VppEnv & { tunnelIp: string },
  x: CrossConnect,
  m: Mechanism,
  side: "src" | "dst",
  mine: WgKeyPair | undefined,
  undo: (() => Promise<unknown>)[],
): Promise<VppSide> {
  const { vpp } = env;
  const keys = mine ?? generateKeyPair();
  if (side === "dst") {
    wg.setDstIp(m, env.tunnelIp);
    wg.setDstPort(m, WG_PORT);
    wg.setDstPublicKey(m, keys.publicKey);
  }
  const peer = side === "src" ? wg.dstIp(m) : wg.srcIp(m);
  const peerKey = side === "src" ? wg.dstPublicKey(m) : wg.srcPublicKey(m);
  const peerPort = (side === "src" ? wg.dstPort(m) : wg.srcPort(m)) || WG_PORT;
  if (!peer || !peerKey)
    throw new Error(`WIREGUARD mechanism has no ${side === "src" ? "dst" : "src"}_ip / public key`);
  const { sw_if_index } = await vpp.request("wireguard_interface_create", {
    interface: {
      user_instance: 0xffffffff,
      private_key: key(keys.privateKey),
      port: WG_PORT,
      src_ip: toAddress(env.tunnelIp),
    },
    generate_key: false,
  });
  undo.push(() => vpp.request("wireguard_interface_delete", { sw_if_index }));
  const { peer_index } = await vpp.request("wireguard_peer_add", {
    peer: {
      public_key: key(peerKey),
      port: peerPort,
      persistent_keepalive: 10,
      endpoint: toAddress(peer),
      sw_if_index,
      allowed_ips: [toPrefix("0.0.0.0/0"), toPrefix("::/0")],
    },
  });
  undo.push(() => vpp.request("wireguard_peer_remove", { peer_index }));
  await vpp.request("sw_interface_tag_add_del", { is_add: true, sw_if_index, tag: x.id });
  const [d] = await vpp.dump("sw_interface_dump", { sw_if_index });
  return {
    kind: "wireguard",
    swIfIndex: sw_if_index,
    iface: `${(d?.interface_dev_type ?? "wireguard").toUpperCase()}/${d?.interface_name ?? sw_if_index}`,
    neighbours: [],
    wgPeer: peer_index,
    wgPublicKey: keys.publicKey,
  };
}

export async function removeWireguard(vpp: VppClient, s: VppSide): Promise<void> {
  if (s.wgPeer !== undefined)
    await vpp.request("wireguard_peer_remove", { peer_index: s.wgPeer }).catch(() => undefined);
  await vpp.request("wireguard_interface_delete", { sw_if_index: s.swIfIndex }).catch(() => undefined);
}
