/** What the grpc-js server and client adapters share: the ctx keys of an incoming and an outgoing call. */
import * as grpc from "@grpc/grpc-js";
import { ctxKey } from "./context.js";
import type { FdTransceiver } from "../tools/grpcfd/socket.js";

/** The incoming gRPC call behind a server-side ctx. */
export interface IncomingCall {
  readonly metadata: grpc.Metadata;
  readonly peer: string;
  /** the caller's TLS certificate (mTLS; undefined on plaintext) */
  readonly peerCertificate?: import("node:tls").PeerCertificate;
  /** sends response headers (registry `path` header); once, before the first response */
  sendHeaders(md: grpc.Metadata): void;
  /** the connection's fd passing (grpcfd), when the call came over a unix socket */
  readonly fds?: FdTransceiver;
}
export const INCOMING = ctxKey<IncomingCall>("grpc/incoming");
/** Metadata to send on outgoing calls made with this ctx (tokens, registry path). */
export const OUTGOING_METADATA = ctxKey<grpc.Metadata>("grpc/outgoing-metadata");
/** Called with the response headers of an outgoing call. */
export const ON_RESPONSE_HEADERS = ctxKey<(md: grpc.Metadata) => void>("grpc/on-response-headers");
