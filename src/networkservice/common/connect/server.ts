/**
 * connectServer: hands the request to a client chain (the next hop) and continues the server
 * chain with what it returned. If the rest of the server chain fails, the client connection is
 * closed again so nothing is left behind downstream.
 */
import { detach, messageOf, NsmError, type NetworkServiceClient, type ServerElement } from "../../../core/index.js";

export function connectServer(client: NetworkServiceClient): ServerElement {
  return {
    async request(req, ctx, next) {
      const conn = await client.request(req, ctx);
      req.connection = conn;
      try {
        return await next.request(req, ctx);
      } catch (e) {
        const c = detach(ctx, new AbortController().signal);
        await client
          .close(conn, c)
          .catch((ce: unknown) =>
            ctx.log.warn({ connId: conn.id, err: messageOf(ce) }, "connect: close after failure failed"),
          );
        throw e;
      }
    },
    async close(conn, ctx, next) {
      let first: unknown;
      try {
        await client.close(conn, ctx);
      } catch (e) {
        first = e;
      }
      try {
        await next.close(conn, ctx);
      } catch (e) {
        first ??= e;
      }
      if (first !== undefined) throw NsmError.from(first, ctx.signal);
    },
  };
}
