/**
 * The one place serve() and dial() take their transport credentials from (docs/security.md):
 * explicit grpc-js credentials, else the SPIFFE identity given in the options, else the process
 * identity set at startup by the command (`setProcessIdentity`), else plaintext. `identity: null`
 * asks for plaintext explicitly (dev mode, or a peer outside the mesh).
 */
import * as grpc from "@grpc/grpc-js";
import { clientCredentials, serverCredentials } from "../tools/spiffe/tls.js";
import type { X509Source } from "../tools/spiffe/svid.js";

let processIdentity: X509Source | undefined;

/** Sets (or clears) the identity every later serve()/dial() of this process uses by default. */
export function setProcessIdentity(source: X509Source | undefined): void {
  processIdentity = source;
}
export function getProcessIdentity(): X509Source | undefined {
  return processIdentity;
}

export interface SecurityOptions {
  credentials?: grpc.ServerCredentials | grpc.ChannelCredentials;
  /** our SVID source; null = plaintext even when the process has an identity */
  identity?: X509Source | null;
}

const identityOf = (o: SecurityOptions) => (o.identity === undefined ? processIdentity : (o.identity ?? undefined));

export function serverCredentialsFor(o: SecurityOptions): grpc.ServerCredentials {
  if (o.credentials) return o.credentials as grpc.ServerCredentials;
  const id = identityOf(o);
  return id ? serverCredentials(id) : grpc.ServerCredentials.createInsecure();
}

export function channelCredentialsFor(o: SecurityOptions): {
  credentials: grpc.ChannelCredentials;
  peerId: () => string | undefined;
  /** channel options the credentials need */
  options: grpc.ChannelOptions;
} {
  if (o.credentials)
    return { credentials: o.credentials as grpc.ChannelCredentials, peerId: () => undefined, options: {} };
  const id = identityOf(o);
  if (!id) return { credentials: grpc.credentials.createInsecure(), peerId: () => undefined, options: {} };
  // SPIFFE peers are checked by ID, not host name: no IP address as TLS server name (RFC 6066)
  return { ...clientCredentials(id), options: { "grpc.ssl_target_name_override": "spiffe" } };
}
