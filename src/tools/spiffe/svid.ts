/**
 * X.509 SVIDs (SPIFFE Verifiable Identity Documents) and the sources that hold the current one:
 * the Workload API (workloadapi.ts), files (files.ts) or the built-in issuer (issuer.ts). A
 * source always has an SVID once `ready` resolved, and tells listeners about each rotation.
 *
 *   const src = await workloadApiSource({ socket: process.env.SPIFFE_ENDPOINT_SOCKET! });
 *   src.svid().id;                 // "spiffe://nsm.test/nsmgr"
 *   src.onChange(() => log.info("rotated"));
 */
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { NsmError, status } from "../errors.js";

export interface X509Svid {
  /** the SPIFFE ID, e.g. `spiffe://nsm.test/nsmgr` */
  readonly id: string;
  /** leaf first, then intermediates */
  readonly chain: readonly X509Certificate[];
  /** the chain as PEM (what TLS sends) */
  readonly certPem: string;
  /** the private key as PKCS#8 PEM */
  readonly keyPem: string;
  readonly key: KeyObject;
  readonly notAfter: Date;
}

export interface X509Source {
  /** the current SVID */
  svid(): X509Svid;
  /** the CA certificates of our trust domain, PEM */
  bundlePem(): string;
  /** called after each rotation (SVID or bundle); returns an unsubscribe */
  onChange(fn: () => void): () => void;
  close(): void;
}

/** The SPIFFE ID of a certificate: its one `spiffe://` URI SAN; undefined if it has none or several. */
export function spiffeIdOf(cert: X509Certificate | Buffer): string | undefined {
  const c = Buffer.isBuffer(cert) ? new X509Certificate(cert) : cert;
  const uris = (c.subjectAltName ?? "")
    .split(/,\s*/)
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
  const ids = uris.filter((u) => u.startsWith("spiffe://"));
  return uris.length === 1 && ids.length === 1 ? ids[0] : undefined;
}

export function trustDomainOf(id: string): string {
  return new URL(id).host;
}

const pem = (der: Buffer) =>
  `-----BEGIN CERTIFICATE-----\n${der
    .toString("base64")
    .replace(/.{64}/g, "$&\n")
    .replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;

/** An SVID from a DER chain and a PKCS#8 DER (or PEM) key; checks the leaf names `id` when given. */
export function makeSvid(chainDer: readonly Buffer[], key: Buffer | string, id?: string): X509Svid {
  if (!chainDer.length) throw new NsmError(status.INVALID_ARGUMENT, "SVID: empty certificate chain");
  const chain = chainDer.map((d) => new X509Certificate(d));
  const leafId = spiffeIdOf(chain[0]!);
  if (!leafId)
    throw new NsmError(status.INVALID_ARGUMENT, `SVID: leaf ${chain[0]!.subject} has no single spiffe:// URI SAN`);
  if (id && id !== leafId) throw new NsmError(status.INVALID_ARGUMENT, `SVID: leaf names ${leafId}, expected ${id}`);
  const k = typeof key === "string" ? createPrivateKey(key) : createPrivateKey({ key, format: "der", type: "pkcs8" });
  if (!chain[0]!.checkPrivateKey(k))
    throw new NsmError(status.INVALID_ARGUMENT, `SVID ${leafId}: key does not match the leaf`);
  return {
    id: leafId,
    chain,
    certPem: chainDer.map(pem).join(""),
    keyPem: k.export({ type: "pkcs8", format: "pem" }) as string,
    key: k,
    notAfter: new Date(chain[0]!.validTo),
  };
}

export const derToPem = pem;

/** PEM blocks → DER buffers */
export function pemToDer(text: string): Buffer[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) =>
    Buffer.from(m[1]!.replace(/\s+/g, ""), "base64"),
  );
}

/** The shared half of every source: the current value and its listeners. */
export class SourceState implements X509Source {
  private cur?: { svid: X509Svid; bundle: string };
  private readonly listeners = new Set<() => void>();
  private readyResolve!: () => void;
  /** resolves at the first `set` */
  readonly ready = new Promise<void>((r) => (this.readyResolve = r));
  closed = false;
  constructor(private readonly onClose: () => void = () => {}) {}

  set(svid: X509Svid, bundlePem: string): void {
    const changed = this.cur !== undefined;
    this.cur = { svid, bundle: bundlePem };
    this.readyResolve();
    if (changed) for (const l of [...this.listeners]) l();
  }
  svid(): X509Svid {
    if (!this.cur) throw new NsmError(status.UNAVAILABLE, "no X.509 SVID yet");
    return this.cur.svid;
  }
  bundlePem(): string {
    if (!this.cur) throw new NsmError(status.UNAVAILABLE, "no trust bundle yet");
    return this.cur.bundle;
  }
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.onClose();
  }
}
