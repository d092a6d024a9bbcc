/**
 * updateTokenServer: the caller's segment carries the token the caller sent with this call
 * (gRPC metadata `nsm-client-token[-expires]`) and our own segment a fresh token of ours.
 */
import { timestampFromDate, type Connection } from "../../../api/index.js";
import { INCOMING, NsmError, status, type Ctx, type ServerElement } from "../../../core/index.js";
import { incomingToken, type TokenGenerator } from "../../../tools/token/index.js";

async function update(conn: Connection, ctx: Ctx, tokens: TokenGenerator): Promise<void> {
  const p = conn.path;
  if (!p || p.index >= p.pathSegments.length) {
    throw new NsmError(
      status.INVALID_ARGUMENT,
      `updatetoken: path index ${p?.index ?? 0} is past the ${p?.pathSegments.length ?? 0} path segments`,
    );
  }
  if (p.index > 0) {
    const prev = p.pathSegments[p.index - 1]!;
    const t = incomingToken(ctx.get(INCOMING)?.metadata);
    if (t) {
      prev.token = t.token;
      prev.expires = timestampFromDate(t.expires);
    } else if (ctx.get(INCOMING)) {
      ctx.log.warn({ connId: conn.id }, "updatetoken: the caller sent no nsm-client-token");
    }
  }
  const own = await tokens();
  const seg = p.pathSegments[p.index]!;
  seg.token = own.token;
  seg.expires = timestampFromDate(own.expires);
}

export function updateTokenServer(tokens: TokenGenerator): ServerElement {
  return {
    async request(req, ctx, next) {
      await update(req.connection!, ctx, tokens);
      return next.request(req, ctx);
    },
    async close(conn, ctx, next) {
      await update(conn, ctx, tokens);
      return next.close(conn, ctx);
    },
  };
}
