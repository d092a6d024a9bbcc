/**
 * authorizeClient (upstream `sdk/pkg/networkservice/common/authorize` client, default policies
 * common + client/next_token_signed): after the next hop answered, the returned path (all of it)
 * must hold tokens that are JWTs, not expired and chained, and the next hop's segment must carry a
 * token signed by the server we talked to (its TLS certificate, or a valid `x5c` chain of the same
 * SPIFFE ID after it rotated). A refused new connection is closed downstream; the caller gets
 * PermissionDenied naming the rule. Plaintext next hops (no TLS) are not checked.
 */
import { X509Certificate } from "node:crypto";
import type { Connection } from "../../../api/index.js";
import { authorizationDenied, getProcessIdentity, type ClientElement, type Ctx } from "../../../core/index.js";
import { pemToDer, type X509Source } from "../../../tools/spiffe/index.js";
import { decodeToken, verifyWithCertificate, verifyWithPresentedChain } from "../../../tools/token/index.js";
import { CLIENT_CONN } from "../../utils/keys.js";
import { tokensChained, tokensExpired, tokensValid, type PathInput } from "./policies.js";

async function nextTokenSigned(
  conn: Connection,
  ctx: Ctx,
  identity: X509Source | undefined,
): Promise<string | undefined> {
  let tls;
  try {
    tls = ctx.clientMeta.get(CLIENT_CONN)?.tls;
  } catch {
    return undefined;
  }
  const cert = tls?.peerCertificate();
  if (!tls || !cert) return undefined;
  const p = conn.path!;
  const next = p.pathSegments[p.index + 1];
  if (!next?.token) return `segment ${p.index + 1} carries no token of the server`;
  const peerId = tls.peerId();
  try {
    const c = await verifyWithCertificate(next.token, cert);
    return c.sub === peerId ? undefined : `the server ${peerId} returned a token of ${c.sub ?? "nobody"}`;
  } catch (e) {
    try {
      const bundle = identity ? pemToDer(identity.bundlePem()).map((d) => new X509Certificate(d)) : [];
      if (!peerId) throw e;
      await verifyWithPresentedChain(next.token, peerId, bundle);
      return undefined;
    } catch {
      return `segment ${p.index + 1} token is not signed by the server ${peerId ?? ""}: ${(e as Error).message}`;
    }
  }
}

export function authorizeClient(o: { identity?: X509Source } = {}): ClientElement {
  const check = async (conn: Connection, ctx: Ctx, refresh: boolean) => {
    const p = conn.path;
    if (!p) return;
    let secure = false;
    try {
      secure = ctx.clientMeta.get(CLIENT_CONN)?.tls?.peerCertificate() !== undefined;
    } catch {
      /* no client metadata: nothing dialled */
    }
    if (!secure) return;
    const input: PathInput = { segments: p.pathSegments, index: p.index, now: Date.now() };
    for (const r of [tokensValid, tokensExpired, tokensChained]) {
      const why = await r.check(input);
      if (why) throw authorizationDenied("networkservice", r.name, why);
    }
    const why = await nextTokenSigned(conn, ctx, o.identity ?? getProcessIdentity());
    if (!why) return;
    // a refresh over a channel older than the server's last rotation may hold a certificate the
    // server no longer signs with (its own onward channel is newer, so its token has no x5c): keep
    // a live connection whose token names the TLS peer, and say so
    const next = p.pathSegments[p.index + 1];
    const sub = next?.token ? decodeToken(next.token)?.sub : undefined;
    let peerId: string | undefined;
    try {
      peerId = ctx.clientMeta.get(CLIENT_CONN)?.tls?.peerId();
    } catch {
      /* none */
    }
    if (refresh && sub && sub === peerId) {
      ctx.log.warn(
        { connId: conn.id, reason: why },
        "next_token_signed not provable on this channel after a rotation; kept",
      );
      return;
    }
    throw authorizationDenied("networkservice", "next_token_signed", why);
  };
  return {
    async request(req, ctx, next) {
      const known = !!req.connection?.path?.pathSegments[(req.connection.path.index ?? 0) + 1];
      const conn = await next.request(req, ctx);
      try {
        await check(conn, ctx, known);
      } catch (e) {
        if (!known) await next.close(conn, ctx).catch(() => undefined);
        throw e;
      }
      return conn;
    },
  };
}
