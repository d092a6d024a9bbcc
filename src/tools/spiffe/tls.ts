/**
 * mTLS for grpc-js from an X509Source: a CertificateProvider (grpc-js experimental API) pushes
 * every rotated SVID and bundle into live servers and channels, so nothing restarts on rotation;
 * new handshakes use the new certificate, established connections keep theirs.
 *
 * Peers are verified as upstream's `tlsconfig.MTLSServerConfig/MTLSClientConfig(AuthorizeAny)`
 * do: the chain must verify against our trust bundle and the leaf must carry exactly one
 * `spiffe://` URI SAN; any SPIFFE ID of the trust domain is accepted at the TLS layer (who may do
 * what is the authorize elements' business). The client records the server's SPIFFE ID (the
 * `aud` of the tokens it sends there).
 */
import * as grpc from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import { X509Certificate } from "node:crypto";
import { spiffeIdOf, type X509Source } from "./svid.js";

type Provider = grpc.experimental.CertificateProvider;
type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdListener = grpc.experimental.IdentityCertificateUpdateListener;

/** A grpc-js CertificateProvider fed by `source` (one per source, shared by every server/channel). */
export function certificateProvider(source: X509Source): Provider {
  const cas = new Set<CaListener>();
  const ids = new Set<IdListener>();
  const ca = () => ({ caCertificate: Buffer.from(source.bundlePem()) });
  const id = () => {
    const s = source.svid();
    return { certificate: Buffer.from(s.certPem), privateKey: Buffer.from(s.keyPem) };
  };
  source.onChange(() => {
    const c = ca();
    const i = id();
    for (const l of cas) l(c);
    for (const l of ids) l(i);
  });
  return {
    // grpc-js registers its listener before the watcher that consumes the update: answer later
    addCaCertificateListener(l) {
      cas.add(l);
      setImmediate(() => cas.has(l) && l(ca()));
    },
    removeCaCertificateListener: (l) => void cas.delete(l),
    addIdentityCertificateListener(l) {
      ids.add(l);
      setImmediate(() => ids.has(l) && l(id()));
    },
    removeIdentityCertificateListener: (l) => void ids.delete(l),
  };
}

const providers = new WeakMap<X509Source, Provider>();
function providerOf(source: X509Source): Provider {
  let p = providers.get(source);
  if (!p) providers.set(source, (p = certificateProvider(source)));
  return p;
}

/** Server credentials: our SVID, client certificates required and verified against the bundle. */
export function serverCredentials(source: X509Source): grpc.ServerCredentials {
  const p = providerOf(source);
  return grpc.experimental.createCertificateProviderServerCredentials(p, p, true);
}

export interface ClientCredentials {
  readonly credentials: grpc.ChannelCredentials;
  /** the server's SPIFFE ID once a handshake verified it */
  peerId(): string | undefined;
  /** the serial of our SVID when the last handshake ran (what the server holds as our certificate) */
  presentedSerial(): string | undefined;
  /** the server's certificate from the last handshake */
  peerCertificate(): X509Certificate | undefined;
}

/** Channel credentials for one channel: our SVID, the server verified against the bundle + SPIFFE ID. */
export function clientCredentials(source: X509Source): ClientCredentials {
  const p = providerOf(source);
  let peer: string | undefined;
  let presented: string | undefined;
  let peerCert: X509Certificate | undefined;
  const credentials = grpc.experimental.createCertificateProviderChannelCredentials(p, p, {
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      const id = cert.raw ? spiffeIdOf(cert.raw) : undefined;
      if (!id) return new Error(`server certificate ${cert.subject?.CN ?? ""} has no single spiffe:// URI SAN`);
      peer = id;
      peerCert = new X509Certificate(cert.raw);
      presented = source.svid().chain[0]!.serialNumber;
      return undefined;
    },
  });
  return { credentials, peerId: () => peer, presentedSerial: () => presented, peerCertificate: () => peerCert };
}

/** The SPIFFE ID and certificate of a TLS peer (server side: from the call's auth context). */
export function peerIdentity(cert: PeerCertificate | undefined): { id?: string; cert: X509Certificate } | undefined {
  if (!cert?.raw) return undefined;
  const x = new X509Certificate(cert.raw);
  return { id: spiffeIdOf(x), cert: x };
}
