/**
 * The decisions of upstream's default authorization policies (`sdk/pkg/tools/opa/policies`:
 * common/tokens_valid, common/tokens_expired, common/tokens_chained, server/prev_token_signed,
 * monitor/service_connection), evaluated in TypeScript, plus the connection-owner rule that
 * upstream leaves to begin. Each rule returns why it fails, or undefined when it holds; the
 * authorize elements refuse with PermissionDenied naming the rule (docs/security.md).
 */
import type { X509Certificate } from "node:crypto";
import type { PathSegment } from "../../../api/index.js";
import { decodeToken, verifyWithCertificate, verifyWithPresentedChain } from "../../../tools/token/index.js";

export interface PathInput {
  /** segments [0..index] (the left side, as upstream's server policies see it) */
  readonly segments: readonly PathSegment[];
  readonly index: number;
  /** the caller's TLS certificate and SPIFFE ID */
  readonly peer?: { readonly id?: string; readonly cert: X509Certificate };
  readonly now: number;
  /** our trust bundle: checks the certificate a rotated caller presents in its token (x5c) */
  readonly bundle?: readonly X509Certificate[];
}

export interface PathRule {
  readonly name: string;
  check(i: PathInput): Promise<string | undefined> | string | undefined;
}

const claims = (s: PathSegment) => (s.token ? decodeToken(s.token) : undefined);
const auds = (a: string | string[] | undefined) => (a === undefined ? [] : Array.isArray(a) ? a : [a]);

export const tokensValid: PathRule = {
  name: "tokens_valid",
  check: (i) => {
    for (const [n, s] of i.segments.entries()) if (!claims(s)) return `segment ${n} (${s.name}) token is not a JWT`;
    return undefined;
  },
};

export const tokensExpired: PathRule = {
  name: "tokens_expired",
  check: (i) => {
    for (const [n, s] of i.segments.entries()) {
      const exp = claims(s)?.exp;
      if (exp === undefined || exp * 1000 <= i.now)
        return `segment ${n} (${s.name}) token expired${exp !== undefined ? ` at ${new Date(exp * 1000).toISOString()}` : " (no exp)"}`;
    }
    return undefined;
  },
};

export const tokensChained: PathRule = {
  name: "tokens_chained",
  check: (i) => {
    for (let n = 0; n + 1 < i.segments.length; n++) {
      const a = claims(i.segments[n]!);
      const b = claims(i.segments[n + 1]!);
      if (!b?.sub || !auds(a?.aud).includes(b.sub))
        return `segment ${n} token's aud ${JSON.stringify(auds(a?.aud))} does not name segment ${n + 1}'s sub ${JSON.stringify(b?.sub ?? "")}`;
    }
    return undefined;
  },
};

export const prevTokenSigned: PathRule = {
  name: "prev_token_signed",
  async check(i) {
    if (i.index < 1) return undefined;
    const prev = i.segments[i.index - 1];
    if (!i.peer) return "no peer certificate to verify the caller's token with";
    if (!prev?.token) return `segment ${i.index - 1} carries no token of the caller`;
    let c: { sub?: string };
    try {
      c = await verifyWithCertificate(prev.token, i.peer.cert);
    } catch (e) {
      // the caller rotated its SVID since this connection's handshake: its token proves the new one
      try {
        if (!i.peer.id || !i.bundle) throw e;
        c = await verifyWithPresentedChain(prev.token, i.peer.id, i.bundle, i.now);
      } catch (e2) {
        return `segment ${i.index - 1} token is not signed by the caller ${i.peer.id ?? ""}: ${(e as Error).message}${e2 !== e ? ` (x5c: ${(e2 as Error).message})` : ""}`;
      }
    }
    if (i.peer.id && c.sub !== i.peer.id) return `the caller ${i.peer.id} sent a token of ${c.sub ?? "nobody"}`;
    return undefined;
  },
};

/** upstream's default server set: common + server */
export const DEFAULT_SERVER_RULES: readonly PathRule[] = [tokensValid, tokensExpired, tokensChained, prevTokenSigned];

/**
 * Who made each connection (the caller's SPIFFE ID at its first Request): refresh, Close and
 * Monitor are the owner's (upstream's monitor authorization shares such a map,
 * `spiffeid -> connection ids`). Shared by the networkservice and monitor authorize elements.
 */
export class ConnectionOwners {
  private readonly byConn = new Map<string, { owner: string; ids: readonly string[] }>();
  set(connId: string, owner: string, otherIds: readonly string[]): void {
    this.byConn.set(connId, { owner, ids: [connId, ...otherIds] });
  }
  owner(connId: string): string | undefined {
    return this.byConn.get(connId)?.owner;
  }
  delete(connId: string): void {
    this.byConn.delete(connId);
  }
  /** forgets `connId` after `ms` (the monitor still delivers its DELETE event to the owner) unless it is set again */
  release(connId: string, ms = 2000): void {
    const e = this.byConn.get(connId);
    setTimeout(() => this.byConn.get(connId) === e && this.byConn.delete(connId), ms).unref();
  }
  /** true when `id` (a connection id or one of its path segment ids) belongs to a connection of `spiffeId` */
  owns(spiffeId: string, id: string): boolean {
    for (const e of this.byConn.values()) if (e.owner === spiffeId && e.ids.includes(id)) return true;
    return false;
  }
  get size(): number {
    return this.byConn.size;
  }
}
