/** The VPP backend's options, its per-connection record, and what its units share. */
import type { Netns } from "../../../datapath/netns.js";
import type { Logger } from "../../../tools/log.js";
import type { VppClient } from "../../../vpp/client.js";
import type { AclRule, Pinholes } from "./acl.js";

export interface VppBackendOptions {
  /** NSM_VPP_API_SOCKET: use this running VPP; unset: start our own in `runDir` */
  apiSocket?: string;
  /** stats socket (default: `stats.sock` beside the API socket) */
  statsSocket?: string;
  /** where our own VPP keeps its sockets and log (default `<tmpdir>/nsm-vpp-<pid>`) */
  runDir?: string;
  /** netns (a path) where VPP runs and our veth ends live; default: this process's */
  netns?: string;
  /** NSM_TUNNEL_IP: our end of vxlan tunnels (default: none, remote mechanisms are not offered) */
  tunnelIp?: string;
  /** how long to wait for the API socket to answer at start, retrying every second (default 30 s) */
  connectTimeoutMs?: number;
  /**
   * mechanisms offered toward a local NSE, best first (default KERNEL, MEMIF: an NSE that takes
   * both gets KERNEL)
   */
  endpointMechanisms?: readonly string[];
  /** NSM_VXLAN_PORT (default 4789) */
  vxlanPort?: number;
  /**
   * sdk-vpp `acl`: rules put on each connection's NSC-facing interface (ingress as given, egress
   * mirrored), removed on Close; needs VPP's acl plugin (default: none)
   */
  aclRules?: AclRule[];
  log?: Logger;
}

/** One VPP interface we made for a connection, facing one workload or a peer node. */
export interface VppSide {
  kind: "afpacket" | "vxlan" | "memif" | "wireguard";
  swIfIndex: number;
  /** `<DEV TYPE>/<VPP interface name>`, upstream's `*_interface` metric */
  iface: string;
  /** afpacket: our veth end (in the VPP netns); deleting it deletes the workload's end */
  veth?: string;
  /** static VPP neighbours we added on this interface */
  neighbours: { ip: string; mac: string }[];
  /** wireguard: VPP's peer index and our public key */
  wgPeer?: number;
  wgPublicKey?: string;
  /** memif: VPP's id of the socket filename we registered */
  memifSocketId?: number;
  /** vxlan, wireguard: the uplink pinhole this side holds open (acl.ts) */
  pinhole?: { port: number; on: Pinholes };
  /** vxlan: the tunnel as created (deleted with the same fields) */
  vxlan?: { src: string; dst: string; port: number; vni: number; decapNext: number };
}

export interface VppRecord {
  id: string;
  /** what was asked for; equal on refresh = nothing to do */
  fp: string;
  /** [NSC-facing, NSE-facing] */
  sides: VppSide[];
  xc: "l2" | "l3";
  /** aclRules: the two ACLs on the NSC-facing interface */
  acls?: number[];
  /** vxlan NSE side: the VNI we chose */
  vni?: number;
}

export interface VppEnv {
  readonly vpp: VppClient;
  /** the netns where VPP runs */
  readonly node: Netns;
  readonly log: Logger;
}
