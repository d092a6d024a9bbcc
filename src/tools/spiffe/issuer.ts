/**
 * A built-in trust domain for `nsm up` and tests (no SPIRE): a self-signed EC P-256 CA that issues
 * short-lived X.509 SVIDs, and a source that re-issues its SVID at half its lifetime. Certificates
 * are written with our own DER encoder (der.ts) and signed with node:crypto.
 *
 *   const ca = newTrustDomain("nsm.local");
 *   const src = issuerSource(ca, "spiffe://nsm.local/nsmgr", { ttlMs: 3_600_000 });
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from "node:crypto";
import { bitString, bool, explicit, octets, oid, seq, set, time, tlv, uint, utf8 } from "./der.js";
import { derToPem, makeSvid, SourceState, type X509Source, type X509Svid } from "./svid.js";

const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

export interface TrustDomainCa {
  readonly trustDomain: string;
  readonly certDer: Buffer;
  readonly bundlePem: string;
  /** the CA key as PKCS#8 PEM (to keep issuing after a restart: `newTrustDomain(td, ttl, { certDer, keyPem })`) */
  readonly keyPem: string;
  /** issues an SVID for `id` (must be in this trust domain) valid for `ttlMs` */
  issue(id: string, ttlMs: number): X509Svid;
}

function name(cn: string): Buffer {
  return seq(set(seq(oid("2.5.4.10"), utf8("SPIFFE"))), set(seq(oid("2.5.4.3"), utf8(cn))));
}
const ext = (id: string, critical: boolean, value: Buffer) =>
  seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
const spki = (k: KeyObject) => k.export({ type: "spki", format: "der" });
const keyId = (k: KeyObject) => createHash("sha1").update(spki(k).subarray(-65)).digest();

function certificate(o: {
  subject: Buffer;
  issuer: Buffer;
  publicKey: KeyObject;
  signer: KeyObject;
  issuerKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  uri: string;
  ca: boolean;
}): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  const exts = [
    ext("2.5.29.19", true, o.ca ? seq(bool(true)) : seq()),
    // keyCertSign + cRLSign for the CA, digitalSignature for leaves
    ext("2.5.29.15", true, o.ca ? bitString(Buffer.from([0x06]), 1) : bitString(Buffer.from([0x80]), 7)),
    ext("2.5.29.17", false, seq(tlv(0x86, Buffer.from(o.uri)))),
    ext("2.5.29.14", false, octets(keyId(o.publicKey))),
  ];
  if (!o.ca) {
    exts.push(ext("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2"))));
    exts.push(ext("2.5.29.35", false, seq(tlv(0x80, keyId(o.issuerKey)))));
  }
  const tbs = seq(
    explicit(0, uint(Buffer.from([2]))),
    uint(serial),
    ECDSA_SHA256,
    o.issuer,
    seq(time(o.notBefore), time(o.notAfter)),
    o.subject,
    spki(o.publicKey),
    explicit(3, seq(...exts)),
  );
  return seq(tbs, ECDSA_SHA256, bitString(sign("sha256", tbs, o.signer)));
}

/** A fresh CA for `trustDomain` (valid `caTtlMs`, default 1 year), or the `existing` one. */
export function newTrustDomain(
  trustDomain: string,
  caTtlMs = 365 * 86_400_000,
  existing?: { certDer: Buffer; keyPem: string },
): TrustDomainCa {
  const caName = name(`${trustDomain} CA`);
  let publicKey: KeyObject, privateKey: KeyObject, certDer: Buffer;
  if (existing) {
    privateKey = createPrivateKey(existing.keyPem);
    publicKey = createPublicKey(privateKey);
    certDer = existing.certDer;
  } else {
    ({ publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" }));
    const now = Date.now();
    certDer = certificate({
      subject: caName,
      issuer: caName,
      publicKey,
      signer: privateKey,
      issuerKey: publicKey,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + caTtlMs),
      uri: `spiffe://${trustDomain}`,
      ca: true,
    });
  }
  const bundlePem = derToPem(certDer);
  return {
    trustDomain,
    certDer,
    bundlePem,
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    issue(id, ttlMs) {
      const u = new URL(id);
      if (u.protocol !== "spiffe:" || u.host !== trustDomain)
        throw new RangeError(`issuer for ${trustDomain} cannot issue ${id}`);
      const leaf = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const t = Date.now();
      const der = certificate({
        subject: name(u.pathname.replace(/^\//, "") || trustDomain),
        issuer: caName,
        publicKey: leaf.publicKey,
        signer: privateKey,
        issuerKey: publicKey,
        notBefore: new Date(t - 60_000),
        notAfter: new Date(t + ttlMs),
        uri: id,
        ca: false,
      });
      return makeSvid([der], leaf.privateKey.export({ type: "pkcs8", format: "pem" }) as string, id);
    },
  };
}

/** A source whose SVID `ca` re-issues at half its lifetime (default 1 h). */
export function issuerSource(ca: TrustDomainCa, id: string, o: { ttlMs?: number } = {}): X509Source {
  const ttl = o.ttlMs ?? 3_600_000;
  let timer: NodeJS.Timeout | undefined;
  const state = new SourceState(() => clearTimeout(timer));
  const rotate = () => {
    state.set(ca.issue(id, ttl), ca.bundlePem);
    timer = setTimeout(rotate, ttl / 2);
    timer.unref();
  };
  rotate();
  return state;
}
