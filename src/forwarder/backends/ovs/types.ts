/** The OVS backend's options, its per-connection record, and what its units share. */
import type { Netns } from "../../../datapath/netns.js";
import type { Vswitch } from "../../../ovs/ovsdb/index.js";
import type { Logger } from "../../../tools/log.js";
import type { SideOf } from "../shared/ipcontext.js";

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
   * the bridge's own interface (as upstream forwarder-ovs does for its L2 bridges). Without it
   * remote mechanisms work only if that is set up already.
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

/** external_ids keys marking the ports we made: a connection's veth port, a shared vxlan port */
export const CONN_KEY = "nsm-ts-conn";
export const VXLAN_KEY = "nsm-ts-vxlan";

/** What the plumbing units of one OVS backend share. */
export interface OvsEnv {
  /** the netns ovs-vswitchd runs in: host veth ends live here */
  readonly host: Netns;
  readonly vs: Vswitch;
  readonly bridge: string;
  readonly log: Logger;
  readonly tunnelIp: string | undefined;
  readonly vxlanPort: number;
  /** largest MTU inside a vxlan tunnel over the uplink */
  readonly tunnelMtu: number;
  /** veth MTU when the connection context has none */
  readonly mtu: number | undefined;
}
