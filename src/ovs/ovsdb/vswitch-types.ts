/** What Vswitch takes and returns: bridge/port specs for changes, and the rows it reads back, typed. */

export interface BridgeSpec {
  name: string;
  /** "netdev" = userspace datapath (the only one on machines without openvswitch.ko); "" = kernel */
  datapathType?: string;
  /** e.g. ["OpenFlow13"]; empty = OVS default (1.0–1.5) */
  protocols?: string[];
  failMode?: "secure" | "standalone";
  /** Controller targets, e.g. `ptcp:6653:127.0.0.1` or `punix:/run/br.ctl` (passive listeners) */
  controller?: string[];
  externalIds?: Record<string, string>;
  otherConfig?: Record<string, string>;
  /** return the existing bridge instead of failing when one has this name */
  mayExist?: boolean;
}

export interface PortSpec {
  name: string;
  /** Interface.type: "system" (an existing netdev, default), "internal", "vxlan", "tap", "patch", … */
  type?: string;
  /** Interface.options, e.g. vxlan `{ remote_ip, local_ip, dst_port: "4789", key: "flow" }` (strings, as OVSDB stores them) */
  options?: Record<string, string>;
  externalIds?: Record<string, string>;
  /** Port.tag (access VLAN, 0..4095) */
  tag?: number;
  ofportRequest?: number;
  mtuRequest?: number;
  mayExist?: boolean;
}

export interface ChangeOptions {
  /** wait until ovs-vswitchd applied the change (default true) */
  wait?: boolean;
  signal?: AbortSignal;
  /** how long to wait for vswitchd, ms (default 10 000) */
  timeoutMs?: number;
}

export interface BridgeInfo {
  uuid: string;
  name: string;
  datapathType: string;
  /** 16 hex digits, the OpenFlow datapath_id; undefined until vswitchd sets it */
  datapathId: string | undefined;
  protocols: string[];
  failMode: string | undefined;
  /** names of the bridge's ports (its own local port included) */
  ports: string[];
  controller: string[];
  externalIds: Record<string, string>;
  otherConfig: Record<string, string>;
}

export interface InterfaceInfo {
  uuid: string;
  name: string;
  type: string;
  options: Record<string, string>;
  /** undefined until vswitchd attached it; -1 when it could not (see `error`); 65534 = the bridge's LOCAL port */
  ofport: number | undefined;
  ofportRequest: number | undefined;
  error: string | undefined;
  externalIds: Record<string, string>;
  /** rx_packets, tx_bytes, …; refreshed by vswitchd every 5 s; a missing key = not reported */
  statistics: Record<string, number>;
  macInUse: string | undefined;
  linkState: string | undefined;
  adminState: string | undefined;
  mtu: number | undefined;
  ifindex: number | undefined;
}

export interface PortInfo {
  uuid: string;
  name: string;
  /** the bridge listing this port */
  bridge: string | undefined;
  tag: number | undefined;
  externalIds: Record<string, string>;
  interfaces: InterfaceInfo[];
}
