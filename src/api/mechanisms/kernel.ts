/**
 * KERNEL mechanism (upstream `api/pkg/api/networkservice/mechanisms/kernel`): a Linux interface created inside the workload's netns.
 * Getters read the first KERNEL mechanism of a Mechanism/Connection/Request; setters write
 * every KERNEL mechanism in it and return their argument.
 *
 * ```ts
 * kernel.setIfname(req, kernel.ifname("nsm", req.connection!.id), { keep: true });
 * const dev = kernel.ifnameOf(conn); // "nsm-3fKq9aB0c1d"
 * ```
 */
import type { Mechanism } from "../gen/connection_pb.js";
import {
  cls,
  commonKeys,
  getParam,
  ifnameFor,
  LINUX_IF_MAX_LENGTH,
  mechType,
  newMechanism,
  parseBool,
  parseUint,
  setParam,
  truncateIfname,
} from "./common.js";
import type { MechanismHolder } from "./common.js";

export const MECHANISM = mechType.KERNEL;
export const keys = {
  /** Go const "NetNSURL": `file:///proc/<pid>/ns/net` or `inode://<dev>/<ino>` after fd passing. */
  NETNS_URL: commonKeys.INODE_URL,
  INTERFACE_NAME: commonKeys.NAME,
  NETNS_INODE: commonKeys.NETNS_INODE,
  PCI_ADDRESS: commonKeys.PCI_ADDRESS,
  TOKEN_ID: commonKeys.TOKEN_ID,
  SUPPORTS_VLAN: "supportsVlan",
  VLAN: "vlan",
  ROUTE_LOCAL_NET: "routeLocalNet",
  IPTABLES4_NAT_TEMPLATE: "IPTables4NatTemplate",
} as const;
export const NETNS_URL_SCHEME = "file";
export const LINUX_IF_MAX_LEN = LINUX_IF_MAX_LENGTH;
/** The netns URL the SDK client offers for its own namespace. */
export const SELF_NETNS_URL = "file:///proc/thread-self/ns/net";

/** Upstream `kernel.New(netnsURL)` plus optional name: cls LOCAL, type KERNEL. */
export function newKernel(o: { netnsUrl?: string; name?: string } = {}): Mechanism {
  const p: Record<string, string> = {};
  if (o.netnsUrl !== undefined) p[keys.NETNS_URL] = o.netnsUrl;
  if (o.name !== undefined) p[keys.INTERFACE_NAME] = truncateIfname(o.name);
  return newMechanism(cls.LOCAL, MECHANISM, p);
}

/** Stable ≤ 15-byte interface name for a connection id (see ifnameFor). */
export const ifname = (prefix: string, connId: string): string => ifnameFor(prefix, connId);

export const ifnameOf = (x: MechanismHolder | undefined) => getParam(x, MECHANISM, keys.INTERFACE_NAME);
/** Sets the interface name (truncated to 15 bytes as upstream); `keep` leaves existing names. */
export const setIfname = <T extends MechanismHolder>(x: T, name: string, o?: { keep?: boolean }): T =>
  setParam(x, MECHANISM, keys.INTERFACE_NAME, truncateIfname(name), o);
export const netnsUrlOf = (x: MechanismHolder | undefined) => getParam(x, MECHANISM, keys.NETNS_URL);
export const setNetnsUrl = <T extends MechanismHolder>(x: T, url: string, o?: { keep?: boolean }): T =>
  setParam(x, MECHANISM, keys.NETNS_URL, url, o);
export const netnsInodeOf = (x: MechanismHolder | undefined) => getParam(x, MECHANISM, keys.NETNS_INODE);
export const pciAddressOf = (x: MechanismHolder | undefined) => getParam(x, MECHANISM, keys.PCI_ADDRESS);
export const tokenIdOf = (x: MechanismHolder | undefined) => getParam(x, MECHANISM, keys.TOKEN_ID);
export const supportsVlan = (x: MechanismHolder | undefined) => parseBool(getParam(x, MECHANISM, keys.SUPPORTS_VLAN));
/** VLAN id 0..4095 (12-bit; out of range or invalid reads as 0, as upstream). */
export const vlanOf = (x: MechanismHolder | undefined) => parseUint(getParam(x, MECHANISM, keys.VLAN), 12);
export const routeLocalNet = (x: MechanismHolder | undefined) =>
  parseBool(getParam(x, MECHANISM, keys.ROUTE_LOCAL_NET));
/** `;`-separated iptables rules with `{{.NsmInterfaceName}}`, `{{.NsmSrcIPs}}`, `{{.NsmDstIPs}}`. */
export const iptables4NatTemplateOf = (x: MechanismHolder | undefined) =>
  getParam(x, MECHANISM, keys.IPTABLES4_NAT_TEMPLATE);
