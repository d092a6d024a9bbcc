/**
 * The VPP interfaces the vL3 endpoint's router puts into a VRF: af_packet on a kernel interface
 * the forwarder made in our netns, or a memif master on a socket in our netns (a MEMIF
 * connection: the forwarder's VPP connects to it as slave). Both made and removed here.
 *
 *   const i = await afPacketCreate(vpp, "nsm-1a2b", "02:…", true);
 *   const m = await memifMasterCreate(vpp, "abstract:/tmp/memif/c1/memif.socket,netns_name=/run/netns/e", true);
 *   await ifaceDelete(vpp, m);
 */
import { createHash } from "node:crypto";
import { toMac } from "../../../vpp/address.js";
import type { VppClient } from "../../../vpp/client.js";

/** the messages these send */
export const VL3_IFACE_MESSAGES = [
  "af_packet_create_v3",
  "af_packet_delete",
  "memif_socket_filename_add_del_v2",
  "memif_create_v2",
  "memif_delete",
] as const;

/** one of our VPP interfaces: an af_packet (by its kernel interface) or a memif (with its socket) */
export type VppIface =
  { kind: "af_packet"; swIfIndex: number; ifname: string } | { kind: "memif"; swIfIndex: number; socketId: number };

/**
 * AF_PACKET_API_MODE_ETHERNET / _IP. Flags: VERSION_2, and on Ethernet CKSUM_GSO: the kernel's
 * veth leaves UDP/TCP checksums to offload, VPP reads that from the vnet header and passes it on.
 * An L3 device (a wireguard tunnel) gets no vnet header, so VPP fills checksums itself before
 * sending to it: with CKSUM_GSO in IP mode, DNS answers to clients behind a tunnel never arrived
 * (pings did) in test/e2e/vl3-vpp.test.ts; without it they do.
 */
const AF_ETHERNET = 1,
  AF_IP = 2,
  AF_FLAGS_ETHERNET = 8 | 2,
  AF_FLAGS_IP = 8;
/** 64 KiB of packet plus headers, in whole pages; 256 frames a ring (17 MiB of kernel memory each) */
const AF_FRAME = 65536 + 4096,
  AF_FRAMES = 256;

/** An af_packet interface on the kernel's `ifname`: Ethernet mode with VPP's `mac`, else IP mode. */
export async function afPacketCreate(
  vpp: VppClient,
  ifname: string,
  mac: string | undefined,
): Promise<VppIface & { kind: "af_packet" }> {
  const { sw_if_index } = await vpp.request("af_packet_create_v3", {
    mode: mac ? AF_ETHERNET : AF_IP,
    ...(mac ? { hw_addr: toMac(mac) } : {}),
    host_if_name: ifname,
    // a veth hands a client's TCP over as GSO packets of up to 64 KiB: a 10 KiB frame truncated
    // them (veth to veth through VPP: 2.9 Mbit/s with 10 KiB frames, 6.2 Gbit/s with these)
    rx_frame_size: AF_FRAME,
    tx_frame_size: AF_FRAME,
    rx_frames_per_block: AF_FRAMES,
    tx_frames_per_block: AF_FRAMES,
    flags: mac ? AF_FLAGS_ETHERNET : AF_FLAGS_IP,
  });
  return { kind: "af_packet", swIfIndex: sw_if_index, ifname };
}

const MEMIF_MASTER = 0,
  MEMIF_ETHERNET = 0,
  MEMIF_IP = 1;

/**
 * VPP's memif socket `filename` (VPP's syntax: a path, or `abstract:<name>,netns_name=<path>`)
 * and a memif master on it, IP mode for IP payload, else Ethernet.
 */
export async function memifMasterCreate(
  vpp: VppClient,
  filename: string,
  ip: boolean,
): Promise<VppIface & { kind: "memif" }> {
  const { socket_id } = await vpp.request("memif_socket_filename_add_del_v2", {
    is_add: true,
    socket_filename: filename,
  });
  try {
    const { sw_if_index } = await vpp.request("memif_create_v2", {
      role: MEMIF_MASTER,
      mode: ip ? MEMIF_IP : MEMIF_ETHERNET,
      socket_id,
    });
    return { kind: "memif", swIfIndex: sw_if_index, socketId: socket_id };
  } catch (e) {
    await vpp.request("memif_socket_filename_add_del_v2", { is_add: false, socket_id }).catch(() => undefined);
    throw e;
  }
}

/** Removes `i` from VPP (a memif with its socket); errors are the caller's to ignore. */
export async function ifaceDelete(vpp: VppClient, i: VppIface): Promise<void> {
  if (i.kind === "af_packet") {
    await vpp.request("af_packet_delete", { host_if_name: i.ifname });
    return;
  }
  await vpp.request("memif_delete", { sw_if_index: i.swIfIndex });
  await vpp.request("memif_socket_filename_add_del_v2", { is_add: false, socket_id: i.socketId });
}

const hash = (s: string) => createHash("sha256").update(s).digest("hex");
/** a locally administered unicast MAC, stable per name: VPP's end differs from the kernel's */
export const vppMacOf = (name: string): string => {
  const h = hash(`vl3vpp/${name}`);
  return ["02", h.slice(0, 2), h.slice(2, 4), h.slice(4, 6), h.slice(6, 8), h.slice(8, 10)].join(":");
};

/** the VPP messages the vL3 endpoint sends (its router and these interfaces) */
export const VL3_VPP_MESSAGES = [
  "create_loopback",
  "delete_loopback",
  "ip_table_add_del",
  "sw_interface_set_table",
  "sw_interface_set_unnumbered",
  "sw_interface_add_del_address",
  "sw_interface_set_flags",
  "sw_interface_set_mtu",
  "feature_gso_enable_disable",
  "sw_interface_ip6_enable_disable",
  "sw_interface_ip6nd_ra_config",
  "ip_route_add_del",
  "ip_neighbor_add_del",
  ...VL3_IFACE_MESSAGES,
] as const;
