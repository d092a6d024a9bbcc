/**
 * metadataServer / metadataClient: give each connection id its own `ctx.meta` (or
 * `ctx.clientMeta`) from its first Request until Close. A failed first Request leaves nothing.
 */
import { NsmError, status } from "../tools/errors.js";
import type { ServerElement, ClientElement } from "./chain.js";
import type { Ctx } from "./context.js";
import { Meta, MetaStore } from "./metadata.js";

function metadataElement(side: "server" | "client", store: MetaStore): ServerElement & { store: MetaStore } {
  const attach = (ctx: Ctx, m: Meta) => ctx.with(side === "server" ? { meta: m } : { clientMeta: m });
  return {
    store,
    async request(req, ctx, next) {
      const id = req.connection?.id;
      if (!id) throw new NsmError(status.INVALID_ARGUMENT, "request.connection.id must not be empty");
      const { meta, created } = store.getOrCreate(id);
      try {
        return await next.request(req, attach(ctx, meta));
      } catch (e) {
        if (created) store.delete(id);
        throw e;
      }
    },
    async close(conn, ctx, next) {
      const meta = store.get(conn.id) ?? new Meta();
      store.delete(conn.id);
      return next.close(conn, attach(ctx, meta));
    },
  };
}

export function metadataServer(store = new MetaStore()): ServerElement & { store: MetaStore } {
  return metadataElement("server", store);
}
export function metadataClient(store = new MetaStore()): ClientElement & { store: MetaStore } {
  return metadataElement("client", store);
}
