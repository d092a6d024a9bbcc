/**
 * dialClient: connects this connection to the next hop named by the client URL in the context,
 * over a pooled persistent channel. When the URL changes (reselect), the old next hop gets a
 * Close first. A first Request that fails releases the channel; an UNAVAILABLE failure also
 * evicts it so the next attempt dials afresh instead of waiting out grpc's reconnect back-off.
 */
import { messageOf, metaKey, NsmError, status, type ClientElement, type Ctx } from "../../../core/index.js";
import { CLIENT_CONN, CLIENT_URL, NEXT_HOP } from "../../utils/keys.js";
import type { ChannelPool, PooledConn } from "./pool.js";

const DIALED = metaKey<PooledConn>("dial/conn");

function isUnavailable(e: unknown): boolean {
  return e instanceof NsmError ? e.code === status.UNAVAILABLE : (e as { code?: unknown })?.code === status.UNAVAILABLE;
}

export function dialClient(pool: ChannelPool): ClientElement {
  const use = (ctx: Ctx, c: PooledConn) => {
    ctx.clientMeta.set(DIALED, c);
    ctx.clientMeta.set(CLIENT_CONN, c);
    const slot = ctx.get(NEXT_HOP);
    if (slot) slot.conn = c;
  };
  const forget = (ctx: Ctx) => {
    ctx.clientMeta.delete(DIALED);
    ctx.clientMeta.delete(CLIENT_CONN);
  };
  return {
    async request(req, ctx, next) {
      const url = ctx.get(CLIENT_URL);
      if (!url) return next.request(req, ctx);
      let old = ctx.clientMeta.get(DIALED);
      if (old && old.url !== url) {
        // reselected to another next hop: clean up the old one first (best effort)
        try {
          await next.close(req.connection!, ctx);
        } catch (e) {
          ctx.log.debug(
            { connId: req.connection?.id, url: old.url, err: messageOf(e) },
            "dial: close on the previous next hop failed",
          );
        }
        pool.release(old);
        forget(ctx);
        old = undefined;
      }
      let conn = old;
      let fresh = false;
      if (!conn || !pool.isLive(conn)) {
        if (conn) pool.release(conn);
        conn = pool.acquire(url);
        fresh = true;
      }
      use(ctx, conn);
      try {
        return await next.request(req, ctx);
      } catch (e) {
        if (isUnavailable(e)) pool.evict(conn);
        if (fresh && !old) {
          pool.release(conn);
          forget(ctx);
        }
        throw e;
      }
    },
    async close(conn, ctx, next) {
      const c = ctx.clientMeta.get(DIALED);
      if (!c) return next.close(conn, ctx);
      use(ctx, c);
      try {
        await next.close(conn, ctx);
      } finally {
        pool.release(c);
        forget(ctx);
      }
    },
  };
}
