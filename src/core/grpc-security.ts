/**
 * The one place serve() and dial() take their transport credentials from (docs/security.md):
 * explicit grpc-js credentials, else the SPIFFE identity given in the options, else the process
 * identity set at startup by the command (`setProcessIdentity`), else plaintext. `identity: null`
 * asks for plaintext explicitly (dev mode, or a peer outside the mesh).
 */
import * as grpc from "@grpc/grpc-js";
import { NsmError, status } from "../tools/errors.js";
import { clientCredentials, peerIdentity, serverCredentials } from "../tools/spiffe/tls.js";
import type { X509Source } from "../tools/spiffe/svid.js";
import type { Ctx } from "./context.js";
import { INCOMING } from "./grpc-common.js";

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

/**
 * `secure`: the bytes are TLS, so no fds travel beside them. Credentials given by the caller count
 * as secure (we did not make them and cannot tell); plaintext is only what we made ourselves.
 */
export function serverCredentialsFor(o: SecurityOptions): { credentials: grpc.ServerCredentials; secure: boolean } {
  if (o.credentials) return { credentials: o.credentials as grpc.ServerCredentials, secure: true };
  const id = identityOf(o);
  return id
    ? { credentials: serverCredentials(id), secure: true }
    : { credentials: grpc.ServerCredentials.createInsecure(), secure: false };
}

const none = {
  peerId: () => undefined,
  presentedSerial: () => undefined,
  peerCertificate: () => undefined,
  options: {},
};

export function channelCredentialsFor(o: SecurityOptions): {
  credentials: grpc.ChannelCredentials;
  /** TLS (see serverCredentialsFor) */
  secure: boolean;
  peerId: () => string | undefined;
  presentedSerial: () => string | undefined;
  peerCertificate: () => import("node:crypto").X509Certificate | undefined;
  /** channel options the credentials need */
  options: grpc.ChannelOptions;
} {
  if (o.credentials) return { credentials: o.credentials as grpc.ChannelCredentials, secure: true, ...none };
  const id = identityOf(o);
  if (!id) return { credentials: grpc.credentials.createInsecure(), secure: false, ...none };
  // SPIFFE peers are checked by ID, not host name: no IP address as TLS server name (RFC 6066)
  return { ...clientCredentials(id), secure: true, options: { "grpc.ssl_target_name_override": "spiffe" } };
}

/** PermissionDenied as upstream's authorize elements word it, naming the rule */
export function authorizationDenied(what: string, rule: string, why: string): NsmError {
  return new NsmError(
    status.PERMISSION_DENIED,
    `${what}: an error occurred during authorization policy check: ${rule}: ${why}`,
  );
}

export type CallerIdentity = NonNullable<ReturnType<typeof peerIdentity>> & { readonly id: string };
const callers = new Map<string, ReturnType<typeof peerIdentity>>();

/**
 * The SPIFFE identity of the gRPC caller behind `ctx` (its certificate parsed once); undefined for
 * an in-process call. A gRPC caller without a certificate or SPIFFE ID is refused (`what` names
 * the service in the error: "networkservice", "registry", "monitor").
 */
export function callerIdentity(ctx: Ctx, what: string): CallerIdentity | undefined {
  const inc = ctx.get(INCOMING);
  if (!inc) return undefined;
  const cert = inc.peerCertificate;
  if (!cert?.raw)
    throw authorizationDenied(what, "peer_certificate", `the caller ${inc.peer} presented no TLS certificate`);
  let p = callers.get(cert.fingerprint256);
  if (!p) {
    if (callers.size > 256) callers.clear();
    callers.set(cert.fingerprint256, (p = peerIdentity(cert)));
  }
  if (!p?.id)
    throw authorizationDenied(
      what,
      "peer_spiffe_id",
      `the caller's certificate ${cert.subject?.CN ?? ""} has no SPIFFE ID`,
    );
  return p as CallerIdentity;
}
