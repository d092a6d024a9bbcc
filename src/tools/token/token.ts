/**
 * Path-segment tokens: every hop signs a short JWT per call and puts it in the gRPC metadata
 * (`nsm-client-token`, `nsm-client-token-expires`); the next hop records it in the caller's path
 * segment (upstream `sdk/pkg/networkservice/common/updatetoken`,
 * `sdk/pkg/tools/token`, `sdk/pkg/tools/spiffejwt`; docs/api.md "Strings on the wire", docs/security.md).
 * With an SVID source (`source`): signed with the SVID's key (ES256 for EC P-256, RS256 for RSA),
 * `sub` = our SPIFFE ID, `aud` = [the peer's SPIFFE ID] when known, `exp` = min(now + max lifetime
 * (NSM_MAX_TOKEN_LIFETIME, 10m), our certificate's NotAfter, the peer's when given). Without one
 * (plaintext dev mode): ES256 with a key made per component at startup, `sub` = a local name.
 *
 *   const tokens = await newTokenGenerator({ name: "nsmgr", maxLifetimeMs: 600_000 });
 *   const t = await tokens();                       // { token: "eyJ...", expires: Date }
 *   ctx.withValue(OUTGOING_METADATA, tokenMetadata(t));
 */
import { Metadata } from "@grpc/grpc-js";
import { webcrypto, X509Certificate, type KeyObject } from "node:crypto";
import { decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from "jose";
import { metadataKeys } from "../../api/index.js";
import { spiffeIdOf, type X509Source } from "../spiffe/svid.js";

export interface Token {
  readonly token: string;
  readonly expires: Date;
}

/** Makes a token for an outgoing call; `aud` is the peer's identity when known. */
export interface TokenGenerator {
  (aud?: string, o?: TokenCallOptions): Promise<Token>;
  /** the `sub` claim */
  readonly subject: string;
  /** verifies a token this generator signed (tests, authorize policies) */
  verify(token: string): Promise<{ sub?: string; exp?: number }>;
}

export interface TokenCallOptions {
  /** the peer certificate's NotAfter: `exp` is not later */
  peerNotAfter?: Date;
  /**
   * the serial of our SVID the peer saw in the TLS handshake; when it is not the current one (we
   * rotated, the connection stayed), the token carries our current chain in its `x5c` header so
   * the peer can still check that we signed it
   */
  presentedSerial?: string;
}

export const DEFAULT_MAX_TOKEN_LIFETIME_MS = 10 * 60_000;

export interface TokenGeneratorOptions {
  /** component name; the subject is `spiffe://nsm-ts.local/<name>` unless `subject` is given */
  name: string;
  subject?: string;
  /** NSM_MAX_TOKEN_LIFETIME in ms (default 10 min) */
  maxLifetimeMs?: number;
  /** reuse a signed token for this long (default min(1 s, lifetime/20)): signing is off the hot path */
  reuseMs?: number;
  /** an existing ES256 key pair (default: a fresh one) */
  keys?: webcrypto.CryptoKeyPair;
  /** our SVID: its key signs, its SPIFFE ID is `sub`, its NotAfter bounds `exp` */
  source?: X509Source;
}

/** the JWS algorithm for an SVID key (upstream uses ES256 for the EC P-256 keys SPIRE issues) */
export function algorithmFor(key: KeyObject): string {
  const t = key.asymmetricKeyType;
  if (t === "ec") {
    const c = key.asymmetricKeyDetails?.namedCurve;
    if (c === "prime256v1") return "ES256";
    if (c === "secp384r1") return "ES384";
    throw new RangeError(`no JWS algorithm for EC curve ${c}`);
  }
  if (t === "rsa") return "RS256";
  throw new RangeError(`no JWS algorithm for ${t} keys`);
}

/** Verifies `token` against the public key of `cert` (a peer's TLS certificate); throws jose's errors. */
export async function verifyWithCertificate(token: string, cert: X509Certificate) {
  return (await jwtVerify(token, cert.publicKey, { algorithms: ["ES256", "ES384", "RS256"] })).payload;
}

/** A generator with a fresh ES256 (P-256) key. Tokens carry `sub` and `exp` only, as upstream without TLS. */
export async function newTokenGenerator(o: TokenGeneratorOptions): Promise<TokenGenerator> {
  const lifetime = o.maxLifetimeMs ?? DEFAULT_MAX_TOKEN_LIFETIME_MS;
  if (!(lifetime > 0)) throw new RangeError(`token lifetime must be > 0 ms, got ${lifetime}`);
  if (o.source) return svidTokenGenerator(o.source, lifetime, o.reuseMs ?? Math.min(1000, lifetime / 20));
  const reuse = o.reuseMs ?? Math.min(1000, lifetime / 20);
  const keys =
    o.keys ??
    ((await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
      "sign",
      "verify",
    ])) as webcrypto.CryptoKeyPair);
  const subject = o.subject ?? `spiffe://nsm-ts.local/${o.name}`;
  const cache = new Map<string, { t: Token; at: number }>();
  const pending = new Map<string, Promise<Token>>();

  const sign = async (aud: string | undefined): Promise<Token> => {
    const expMs = Date.now() + lifetime;
    // JWT NumericDate may be fractional (RFC 7519 section 2); ms precision keeps short test lifetimes exact
    const jwt = new SignJWT({})
      .setProtectedHeader({ alg: "ES256", typ: "JWT" })
      .setSubject(subject)
      .setExpirationTime(expMs / 1000);
    if (aud) jwt.setAudience([aud]);
    return { token: await jwt.sign(keys.privateKey), expires: new Date(expMs) };
  };

  const gen = (async (aud?: string) => {
    const key = aud ?? "";
    const hit = cache.get(key);
    const now = Date.now();
    if (hit && now - hit.at < reuse) return hit.t;
    let p = pending.get(key);
    if (!p) {
      p = sign(aud)
        .then((t) => {
          cache.set(key, { t, at: now });
          return t;
        })
        .finally(() => pending.delete(key));
      pending.set(key, p);
    }
    return p;
  }) as TokenGenerator;
  Object.defineProperty(gen, "subject", { value: subject });
  Object.defineProperty(gen, "verify", {
    value: async (token: string) => (await jwtVerify(token, keys.publicKey, { algorithms: ["ES256"] })).payload,
  });
  return gen;
}

/**
 * Verifies a token signed after its signer rotated its SVID on a connection that kept the old
 * certificate: the chain in its `x5c` header must verify up to a CA of `bundle`, be valid now and
 * name `peerId` (the TLS peer's SPIFFE ID), and its leaf must verify the signature.
 */
export async function verifyWithPresentedChain(
  token: string,
  peerId: string,
  bundle: readonly X509Certificate[],
  now = Date.now(),
) {
  const x5c = decodeProtectedHeader(token).x5c;
  if (!x5c?.length) throw new Error("no x5c certificate chain in the token");
  const chain = x5c.map((b) => new X509Certificate(Buffer.from(b, "base64")));
  for (const c of chain)
    if (now < Date.parse(c.validFrom) || now > Date.parse(c.validTo))
      throw new Error(`x5c certificate ${c.serialNumber} is not valid now`);
  for (let i = 0; i + 1 < chain.length; i++)
    if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey))
      throw new Error("x5c chain does not verify");
  const last = chain[chain.length - 1]!;
  const valid = (c: X509Certificate) => now >= Date.parse(c.validFrom) && now <= Date.parse(c.validTo);
  if (!bundle.some((ca) => valid(ca) && last.checkIssued(ca) && last.verify(ca.publicKey)))
    throw new Error("x5c chain does not lead to a valid CA of our trust bundle");
  const id = spiffeIdOf(chain[0]!);
  if (id !== peerId) throw new Error(`x5c certificate names ${id ?? "no SPIFFE ID"}, the caller is ${peerId}`);
  return verifyWithCertificate(token, chain[0]!);
}

/** Tokens signed with the current SVID of `source`; a rotation starts new tokens at once. */
function svidTokenGenerator(source: X509Source, lifetime: number, reuse: number): TokenGenerator {
  const cache = new Map<string, { t: Token; at: number; serial: string }>();
  const sign = async (aud: string | undefined, peerNotAfter: Date | undefined, x5c: boolean): Promise<Token> => {
    const svid = source.svid();
    let expMs = Math.min(Date.now() + lifetime, svid.notAfter.getTime());
    if (peerNotAfter) expMs = Math.min(expMs, peerNotAfter.getTime());
    const header = { alg: algorithmFor(svid.key), typ: "JWT" };
    const jwt = new SignJWT({})
      .setProtectedHeader(x5c ? { ...header, x5c: svid.chain.map((c) => c.raw.toString("base64")) } : header)
      .setSubject(svid.id)
      .setExpirationTime(expMs / 1000);
    if (aud) jwt.setAudience([aud]);
    return { token: await jwt.sign(svid.key), expires: new Date(expMs) };
  };
  const gen = (async (aud?: string, o: TokenCallOptions = {}) => {
    const serial = source.svid().chain[0]!.serialNumber;
    const x5c = o.presentedSerial !== undefined && o.presentedSerial !== serial;
    const key = `${aud ?? ""}|${o.peerNotAfter?.getTime() ?? ""}|${x5c}`;
    const hit = cache.get(key);
    const now = Date.now();
    if (hit && hit.serial === serial && now - hit.at < reuse) return hit.t;
    const t = await sign(aud, o.peerNotAfter, x5c);
    if (cache.size > 1024) cache.clear();
    cache.set(key, { t, at: now, serial });
    return t;
  }) as TokenGenerator;
  Object.defineProperty(gen, "subject", { get: () => source.svid().id });
  Object.defineProperty(gen, "verify", {
    value: async (token: string) => verifyWithCertificate(token, source.svid().chain[0]!),
  });
  return gen;
}

/** The claims of a token without verifying it; undefined if it is not a JWT. */
export function decodeToken(token: string): { sub?: string; exp?: number; aud?: string | string[] } | undefined {
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
}

/** Go's time.RFC3339Nano: fraction without trailing zeros, `Z` for UTC. */
export function formatRfc3339Nano(d: Date): string {
  const iso = d.toISOString(); // 2025-01-02T03:04:05.120Z
  const [base, frac] = iso.slice(0, -1).split(".") as [string, string];
  const f = frac.replace(/0+$/, "");
  return f ? `${base}.${f}Z` : `${base}Z`;
}

/** Parses RFC 3339 with up to nanoseconds (sub-ms digits dropped); undefined if malformed. */
export function parseRfc3339Nano(s: string): Date | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(s.trim());
  if (!m) return undefined;
  const ms = (m[2] ?? "").padEnd(3, "0").slice(0, 3);
  const d = new Date(`${m[1]}.${ms}${m[3]}`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

// a token is reused for many calls (see reuseMs): format its expiry once
const formatted = new WeakMap<Token, string>();

/** gRPC metadata carrying `t` as upstream's per-RPC credentials do. */
export function tokenMetadata(t: Token, md = new Metadata()): Metadata {
  let exp = formatted.get(t);
  if (exp === undefined) {
    exp = formatRfc3339Nano(t.expires);
    formatted.set(t, exp);
  }
  md.set(metadataKeys.CLIENT_TOKEN, t.token);
  md.set(metadataKeys.CLIENT_TOKEN_EXPIRES, exp);
  return md;
}

/**
 * The caller's token from an incoming call's metadata; undefined when absent or not exactly one
 * value of each key (upstream requires exactly one).
 */
export function incomingToken(md: Metadata | undefined): Token | undefined {
  if (!md) return undefined;
  const tok = md.get(metadataKeys.CLIENT_TOKEN);
  const exp = md.get(metadataKeys.CLIENT_TOKEN_EXPIRES);
  if (tok.length !== 1 || exp.length !== 1) return undefined;
  const expires = parseExpires(String(exp[0]));
  if (!expires) return undefined;
  return { token: String(tok[0]), expires };
}

// callers reuse a token (and its expiry) for many calls: remember the last one parsed
let lastExp: { s: string; ms: number } | undefined;
function parseExpires(s: string): Date | undefined {
  if (lastExp?.s === s) return new Date(lastExp.ms);
  const d = parseRfc3339Nano(s);
  if (d) lastExp = { s, ms: d.getTime() };
  return d;
}
