/** The kernel backend's options, its per-connection record, and what its units share. */
import type { Netns } from "../../../datapath/netns.js";
import type { Logger } from "../../../tools/log.js";
import type { SideOf } from "../shared/ipcontext.js";

export interface KernelBackendOptions {
  /** NSM_TUNNEL_IP: our end of vxlan/wireguard tunnels (default: the first global IPv4 address in our netns) */
  tunnelIp?: string;
  /** NSM_VXLAN_PORT (default 4789; both ends use the same port, as upstream) */
  vxlanPort?: number;
  /** first UDP port for wireguard-go devices (default 51820; one port per connection) */
  wireguardPort?: number;
  /**
   * NSM_REMOTE_MECHANISMS: remote mechanisms offered, best first, WIREGUARD for IP payload only
   * (default: [WIREGUARD, VXLAN] for IP payload, [VXLAN] for ETHERNET)
   */
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

/** The key a background delete of `e` is known by (a create of the same name waits for it). */
export const endKey = (e: PlumbedEnd): string => `${e.inode}/${e.ifname}`;

/** What the plumbing units of one kernel backend share. */
export interface KernelEnv {
  /** the forwarder's netns: tunnels' UDP sockets live here */
  readonly node: Netns;
  readonly log: Logger;
  /** our tunnel address; undefined: no remote mechanisms */
  readonly tunnelIp: string | undefined;
  readonly vxlanPort: number;
  /** largest MTU inside a vxlan / wireguard tunnel over our uplink */
  readonly vxlanMtu: number;
  readonly wgMtu: number;
  /** live connections */
  readonly live: ReadonlyMap<string, PlumbedRecord>;
  /** writes `r` to the state dir (before its interfaces exist, and again when it changes) */
  persist(r: PlumbedRecord): void;
  /** resolves once background deletes of these keys (`endKey`, `wg:<dev>`) are done */
  waitFor(keys: readonly string[]): Promise<void>;
}
