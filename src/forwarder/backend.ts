/**
 * The forwarder's datapath backend: what a forwarder plumbs once the control plane has agreed on
 * both sides of a connection. The control-plane half (discover, roundrobin, mechanism choice,
 * connect) is the same for every backend; a backend only says which mechanisms it can plumb and
 * applies/removes cross connects. Backends (src/forwarder/backends/): `null` (no datapath, for
 * control-plane tests and benchmarks), `kernel` (veth, vxlan, wireguard-go), `ovs` (an OVS
 * bridge with OpenFlow rules) and `memif` (MEMIF sides on the native loop, the rest to kernel).
 *
 *   const fwd = forwarder({ name: "fwd-1", backend: nullBackend(), ... });
 */
import type { Connection, Mechanism } from "../api/index.js";
import type { Ctx } from "../core/index.js";

/** One forwarder connection: the client side and the endpoint side. */
export interface CrossConnect {
  /** our connection id (the forwarder's path segment id) */
  readonly id: string;
  /** as the previous hop sees it; `mechanism` is the one chosen from the client's preferences (its netns URL etc. untouched) */
  readonly incoming: Connection;
  /** as the next hop returned it; `mechanism` was chosen by the next hop; `context` carries the addresses */
  readonly outgoing: Connection;
}

export interface DatapathBackend {
  /** NSM_DATAPATH name: "null", "kernel", "ovs", "memif", "vpp" */
  readonly name: string;
  /** mechanism types this backend can plumb toward a workload (LOCAL) and between nodes (REMOTE) */
  readonly mechanisms: { readonly local: readonly string[]; readonly remote: readonly string[] };
  /** mechanisms to offer the next hop, best first; `remote` = the next hop is another node's nsmgr */
  outgoingPreferences(incoming: Connection, o: { remote: boolean }): Mechanism[];
  /** plumbs the cross connect, or checks/updates it on a refresh (same id); throws a message naming what failed */
  apply(x: CrossConnect, ctx: Ctx): Promise<void>;
  /** removes the cross connect; idempotent */
  remove(x: CrossConnect, ctx: Ctx): Promise<void>;
  /** releases everything the backend holds (sockets, namespaces handles) */
  close(): Promise<void>;
  /**
   * optional: figures for our path segment's `metrics` (upstream names: server_rx_packets,
   * client_tx_bytes, server_interface, ...), read after each successful apply
   */
  metrics?(x: CrossConnect): Promise<Record<string, string> | undefined>;
}
