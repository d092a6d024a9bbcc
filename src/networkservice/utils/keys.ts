/**
 * Values that NetworkService elements hand to later elements (upstream's clienturlctx,
 * clientconn, discover candidates, trimpath marker). Elements never import each other; they
 * share these keys instead.
 */
import type { Connection, NetworkService, NetworkServiceEndpoint } from "../../api/index.js";
import { ctxKey, metaKey, type MonitorConnectionServer, type NetworkServiceServer } from "../../core/index.js";
import type { FdTransceiver } from "../../tools/grpcfd/socket.js";

/** What a client chain needs of the next hop: its NetworkService and MonitorConnection. */
export interface ClientConn {
  readonly url?: string;
  readonly networkService: NetworkServiceServer;
  readonly monitor: MonitorConnectionServer;
  /** fd passing to the next hop (unix sockets; upstream grpcfd), used by sendfd/recvfd clients */
  readonly fds?: FdTransceiver;
  /** mTLS channels: the next hop's SPIFFE ID once the handshake verified it (the `aud` of our tokens) */
  readonly tls?: {
    peerId(): string | undefined;
    presentedSerial(): string | undefined;
    peerCertificate(): import("node:crypto").X509Certificate | undefined;
    waitReady(timeoutMs?: number): Promise<void>;
  };
}

/** Where the next hop is (href of an NSM URL); set by clienturl/discover/roundrobin/discoverforwarder, used by dial. */
export const CLIENT_URL = ctxKey<string>("clienturl");

/** The dialled next hop of this connection (client side metadata); set by dial/clientconn, used by connect, heal. */
export const CLIENT_CONN = metaKey<ClientConn>("clientconn");

/**
 * A slot a server element puts in ctx before calling into a client chain; the client chain's dial
 * fills it so the server side (monitor relay) learns the next hop.
 */
export interface NextHopSlot {
  conn?: ClientConn;
}
export const NEXT_HOP = ctxKey<NextHopSlot>("nexthop-slot");

/** NSEs (already filtered by labels and expiry) and the NetworkService found by discover, for roundrobin. */
export interface Candidates {
  readonly ns: NetworkService;
  readonly nses: readonly NetworkServiceEndpoint[];
}
export const CANDIDATES = ctxKey<Candidates>("discover/candidates");

/** trimpath: a client in the same process marks "the path continues past me, keep it". */
export interface TrimMarker {
  keep: boolean;
}
export const TRIM = ctxKey<TrimMarker>("trimpath");

/**
 * The monitor server's event sender (upstream `monitor.LoadEventSender`), in ctx during every
 * Request that passes it: an inner element keeps it to tell the clients of other connections, at
 * any later time, to request again (vl3mtu, the vL3 address plan).
 */
export interface MonitorEventSender {
  /**
   * Sends UPDATE for connection `id` (our stored view, changed by `edit`) with state
   * REFRESH_REQUESTED; its client requests again (upstreamrefresh). False when `id` is unknown.
   */
  refreshRequested(id: string, edit?: (c: Connection) => void): boolean;
}
export const MONITOR_EVENTS = ctxKey<MonitorEventSender>("monitor/events");
