/** The memif backend's options, its per-connection record, and what its units share. */
import type { MemifOptions, MemifPort, PacketPort, PortJoin } from "../../../datapath/memif.js";
import type { Netns } from "../../../datapath/netns.js";
import type { Logger } from "../../../tools/log.js";
import type { DatapathBackend } from "../../backend.js";

export interface MemifBackendOptions {
  /** netns where our veth ends live (a path, e.g. /run/netns/node-1); default: this process's */
  netns?: string;
  /** mechanisms offered to a local endpoint when the client side is MEMIF, best first (default [KERNEL, MEMIF]: every NSE speaks KERNEL, only some run a memif app) */
  endpointMechanisms?: readonly string[];
  /** backend for cross connects without a MEMIF side (normally the kernel backend) */
  fallback?: DatapathBackend;
  /** directory part of our abstract socket names (default `<os.tmpdir()>/memif`, as upstream) */
  socketDir?: string;
  /** the loop spins instead of sleeping on eventfds (one core per connection; default false) */
  busyPoll?: boolean;
  /** how long a Request waits for the endpoint-side memif link (default 5000 ms, bounded by the deadline) */
  linkUpTimeoutMs?: number;
  /** ring/buffer sizes and mode of our memif ports */
  memif?: Pick<MemifOptions, "ringSize" | "bufferSize" | "mode">;
  log?: Logger;
}

/** One side of a plumbed cross connect. */
export interface MemifSide {
  readonly mechanism: "MEMIF" | "KERNEL";
  /** upstream-style `<TYPE>/<name>`: `MEMIF/<socket>` or `AF_PACKET/<our veth end>` */
  readonly iface: string;
  readonly port: MemifPort | PacketPort;
  /** KERNEL: our veth end (in the backend's netns) */
  readonly veth?: string;
}

/** What the backend keeps per connection. */
export interface MemifPlumbed {
  readonly id: string;
  readonly fp: string;
  readonly client: MemifSide;
  readonly endpoint: MemifSide;
  readonly loop: PortJoin;
}

/** What the side units of one memif backend share. */
export interface MemifEnv {
  /** the netns our veth ends live in */
  readonly node: Netns;
  /** its path for AF_PACKET sockets (undefined: this process's netns) */
  readonly nodePath: string | undefined;
  readonly log: Logger;
  readonly socketDir: string;
  readonly linkUpTimeoutMs: number;
  readonly memif: MemifBackendOptions["memif"];
}
