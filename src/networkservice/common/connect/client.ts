/**
 * connectClient: the end of a client chain: sends Request/Close to the dialled next hop, with
 * this process's token in the call metadata (upstream's per-RPC credentials).
 */
import { NsmError, OUTGOING_METADATA, status, type ClientElement, type Ctx } from "../../../core/index.js";
import { tokenMetadata, type TokenGenerator } from "../../../tools/token/index.js";
import { CLIENT_CONN, type ClientConn } from "../../utils/keys.js";

function nextHop(ctx: Ctx, what: string, id: string): ClientConn {
  let cc: ClientConn | undefined;
  try {
    cc = ctx.clientMeta.get(CLIENT_CONN);
  } catch {
    /* no client metadata in this chain */
  }
  if (!cc)
    throw new NsmError(
      status.INTERNAL,
      `connect: no client connection to send ${what} of ${id} to (no URL was chosen for the next hop)`,
    );
  return cc;
}

/**
 * On mTLS: the next hop's SPIFFE ID (the token's `aud`), known once the channel's handshake is
 * done, and which of our SVIDs that handshake presented (after a rotation the token carries the
 * new certificate, docs/security.md).
 */
async function peerOf(ctx: Ctx, cc: ClientConn): Promise<{ aud?: string; presentedSerial?: string }> {
  if (!cc.tls) return {};
  if (!cc.tls.peerId()) {
    const left = Number.isFinite(ctx.deadline) ? Math.max(1, ctx.deadline - Date.now()) : undefined;
    // not ready in time: the call below fails and says why
    await cc.tls.waitReady(left).catch(() => undefined);
  }
  return { aud: cc.tls.peerId(), presentedSerial: cc.tls.presentedSerial() };
}

/** adds our token to the call's metadata, keeping what earlier elements put there (traceparent) */
async function withToken(ctx: Ctx, tokens: TokenGenerator | undefined, cc: ClientConn): Promise<Ctx> {
  if (!tokens) return ctx;
  const p = await peerOf(ctx, cc);
  const md = tokenMetadata(await tokens(p.aud, { presentedSerial: p.presentedSerial }));
  const before = ctx.get(OUTGOING_METADATA);
  if (before) for (const [k, v] of Object.entries(before.getMap())) if (!md.get(k).length) md.set(k, v);
  return ctx.withValue(OUTGOING_METADATA, md);
}

export function connectClient(o: { tokens?: TokenGenerator } = {}): ClientElement {
  return {
    async request(req, ctx) {
      const cc = nextHop(ctx, "Request", req.connection?.id ?? "");
      return cc.networkService.request(req, await withToken(ctx, o.tokens, cc));
    },
    async close(conn, ctx) {
      const cc = nextHop(ctx, "Close", conn.id);
      await cc.networkService.close(conn, await withToken(ctx, o.tokens, cc));
    },
  };
}
