/**
 * A KERNEL side through VPP, as upstream forwarder-vpp does when /dev/vhost-net is absent
 * (sdk-vpp `mechanisms/kernel/kernelvethpair`): a veth pair whose workload end is born in the
 * workload's netns (named by the mechanism, with its side's addresses and routes) and whose other
 * end, in VPP's netns, VPP reads with `af_packet_create_v3`. With IP payload both ends know each
 * other's MAC without ARP: the workload gets permanent neighbours for the far IPs at our end's MAC,
 * VPP gets static neighbours for the workload's IPs at the workload end's MAC.
 */
import { createHash } from "node:crypto";
import { kernel, payload, type Mechanism } from "../../../api/index.js";
import type { Ctx } from "../../../core/index.js";
import type { DatapathError } from "../../../datapath/errors.js";
import { toAddress, toMac } from "../../../vpp/address.js";
import type { CrossConnect } from "../../backend.js";
import { openNetnsUrl } from "../shared/netnsurl.js";
import { addSideOps, aliasOf, contextMtu, ifnameOf } from "../shared/plumbing.js";
import { isGone } from "../shared/stale.js";
import type { VppEnv, VppSide } from "./types.js";

const hash = (s: string) => createHash("sha256").update(s).digest("hex");
/** our veth end: `vp<12 hex>`, stable per connection and side */
const vethName = (id: string, side: "c" | "e"): string => `vp${hash(`${side}/${id}`).slice(0, 12)}`;
/** a locally administered unicast MAC, stable per connection, side and end */
const macOf = (id: string, what: string): string => {
  const h = hash(`${what}/${id}`);
  return ["02", h.slice(0, 2), h.slice(2, 4), h.slice(4, 6), h.slice(6, 8), h.slice(8, 10)].join(":");
};
/**
 * Checksums and large segments. The workload's kernel hands its veth TCP/UDP packets with the
 * checksum left to the device and, with TSO, segments of up to 64 KiB; an af_packet socket
 * without the virtio-net header reads them as they are, so the far workload drops every TCP
 * segment for its bad checksum (ping works, TCP does not). Two cures, chosen per connection:
 * - both sides kernel (`gso`): TPACKET_V2 rings with the virtio-net header (CKSUM_GSO); VPP
 *   completes checksums and carries 64 KiB segments whole from one af_packet to the other;
 * - otherwise (memif, vxlan, wireguard on the other side, which VPP cannot hand such packets to:
 *   its wireguard encrypts before the deferred checksum is written, and a 64 KiB segment does
 *   not fit a tunnel), as upstream: the workload's veth end gets tx checksum offload off (and
 *   with it TSO), so the kernel sends whole, checksummed, MTU-sized packets; plain TPACKET_V2.
 */
const AF_PACKET_CKSUM_GSO = 2,
  AF_PACKET_V2 = 8;
/** `gso`: one ring frame holds a 64 KiB segment + headers (VPP's own default with CKSUM_GSO) */
const GSO_FRAME = 67584;
/** `gso`: frames per ring: 128 × 66 KiB = 8.25 MiB per direction (VPP's default, 1024, is 66 MiB) */
const GSO_FRAMES = 128;
/** otherwise: upstream's frame size (VPP's default 1024 frames: 10 MiB per direction) */
const FRAME = 10240;
const addrs = (cidrs: readonly string[] | undefined) => (cidrs ?? []).map((c) => c.split("/")[0]!);

/**
 * Makes the veth pair and its af_packet interface (admin down: the caller brings it up after the
 * cross connect). `side` "client" faces the NSC (incoming), "endpoint" the NSE (outgoing).
 */
export async function kernelSide(
  env: VppEnv,
  x: CrossConnect,
  m: Mechanism,
  side: "client" | "endpoint",
  ctx: Ctx,
  undo: (() => Promise<unknown>)[],
  gso = false,
): Promise<VppSide> {
  const { vpp, node, log } = env;
  const what = `${side} side`;
  const ifname = ifnameOf(m, what);
  const s = side === "client" ? "c" : "e";
  const ours = vethName(x.id, s);
  const wMac = macOf(x.id, `${s}/workload`),
    oMac = macOf(x.id, `${s}/ours`);
  const ip = x.outgoing.context?.ipContext;
  const own = addrs(side === "client" ? ip?.srcIpAddrs : ip?.dstIpAddrs);
  const far = addrs(side === "client" ? ip?.dstIpAddrs : ip?.srcIpAddrs);
  const isIp = x.incoming.payload !== payload.ETHERNET;
  const mtu = contextMtu(x) || undefined;
  const ns = openNetnsUrl(kernel.netnsUrlOf(m), what);
  try {
    const create = async () => {
      const b = ns.batch().linkAdd({
        kind: "veth",
        attrs: { name: ifname, mtu, up: true, alias: aliasOf(x.id), mac: wMac },
        peer: { name: ours, netns: node, mtu, up: true, mac: oMac },
      });
      if (!gso) b.linkSetTxChecksum(ifname, false);
      if (isIp) for (const f of far) b.neighReplace({ link: ifname, ip: f, mac: oMac });
      await addSideOps(b, x, side === "client" ? "src" : "dst", ifname).commit({ signal: ctx.signal });
    };
    try {
      await create();
    } catch (e) {
      if ((e as DatapathError).code !== "EEXIST") throw e;
      // a stale pair of ours is replaced; anything else is not touched
      const stale = await ns.linkByName(ifname).catch(() => undefined);
      if (stale && !stale.attrs.alias?.startsWith("nsm:"))
        throw new Error(`${what}: interface ${ifname} already exists in ${ns.name} and is not ours`, { cause: e });
      await vpp.request("af_packet_delete", { host_if_name: ours }).catch(() => undefined);
      for (const [n, name] of [
        [ns, ifname],
        [node, ours],
      ] as const)
        await n.linkDel(name).catch((err: unknown) => {
          if (!isGone(err)) throw err;
        });
      log.info({ connId: x.id, ifname }, "vpp datapath: replaced a stale veth");
      await create();
    }
  } finally {
    ns.close();
  }
  undo.push(() => node.linkDel(ours));
  const { sw_if_index } = await vpp.request("af_packet_create_v3", {
    mode: 1,
    hw_addr: toMac(oMac),
    host_if_name: ours,
    ...(gso
      ? {
          rx_frame_size: GSO_FRAME,
          tx_frame_size: GSO_FRAME,
          rx_frames_per_block: GSO_FRAMES,
          tx_frames_per_block: GSO_FRAMES,
          flags: AF_PACKET_CKSUM_GSO | AF_PACKET_V2,
        }
      : { rx_frame_size: FRAME, tx_frame_size: FRAME, flags: AF_PACKET_V2 }),
  });
  undo.push(() => vpp.request("af_packet_delete", { host_if_name: ours }));
  await vpp.request("sw_interface_tag_add_del", { is_add: true, sw_if_index, tag: x.id });
  if (mtu) await vpp.request("sw_interface_set_mtu", { sw_if_index, mtu: [mtu, 0, 0, 0] });
  const neighbours = isIp ? own.map((a) => ({ ip: a, mac: wMac })) : [];
  for (const n of neighbours)
    await vpp.request("ip_neighbor_add_del", {
      is_add: true,
      neighbor: { sw_if_index, flags: 1, mac_address: toMac(n.mac), ip_address: toAddress(n.ip) },
    });
  const [d] = await vpp.dump("sw_interface_dump", { sw_if_index });
  // upstream's `*_interface` metric: `<DEV TYPE>/<VPP name>`
  const iface = `${(d?.interface_dev_type ?? "af-packet").toUpperCase()}/${d?.interface_name ?? `host-${ours}`}`;
  return { kind: "afpacket", swIfIndex: sw_if_index, iface, veth: ours, neighbours };
}
