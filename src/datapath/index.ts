/**
 * nsm-ts/datapath: a typed API over the kernel datapath (rtnetlink in a C++ addon, on worker
 * threads, never in the caller's netns) plus wireguard-go management. See docs/datapath.md.
 *
 * ```ts
 * import { Netns } from "nsm-ts/datapath";
 * const node = Netns.open({ name: "node-1" }), client = Netns.open({ pid: 4242 });
 * await node.batch()
 *   .linkAdd({ kind: "veth", attrs: { name: "nsm-1a", up: true }, peer: { name: "nsm0", netns: client, up: true } })
 *   .addrAdd({ link: "nsm-1a", cidr: "172.16.0.1/31" })
 *   .commit();
 * ```
 */
export { Netns, withNetns } from "./netns.js";
export { Batch, type BatchResult, type CommitOptions } from "./batch.js";
export { DatapathError, type DatapathErrorFields } from "./errors.js";
export {
  checkIfname,
  type Link,
  type LinkAttrs,
  type LinkChange,
  type LinkSpec,
  type LinkStats,
  type VethPeer,
} from "./link.js";
export type { Addr, AddrInfo } from "./addr.js";
export type { Route, RouteInfo } from "./route.js";
export type { Rule } from "./rule.js";
export type { Neigh, NeighInfo, NeighState } from "./neigh.js";
export type { NetnsRef, NetnsHandle } from "./ref.js";
export { watchAddrsRoutes, type AddrRouteChange, type NetlinkWatch } from "./watch.js";
export { parseCidr, parseIp, formatIp, maskCidr, type Cidr, type IpAddr, type Family } from "./ip.js";
export {
  generateKeyPair,
  publicKeyOf,
  WireguardDevice,
  wgUapiGet,
  wgUapiSet,
  uapiSetRequest,
  parseUapiGet,
  type WgKeyPair,
  type WgPeer,
  type WgConfig,
  type WgDeviceInfo,
  type WgPeerInfo,
  type WireguardStartOptions,
} from "./wireguard.js";
