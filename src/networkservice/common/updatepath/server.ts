/**
 * updatePathServer: the connection carries our own segment (named after this process) at
 * `path.index`, with our own connection id, while the rest of the chain runs; the caller gets its
 * own index and id back.
 */
import { NsmError, status, type ServerElement } from "../../../core/index.js";
import { restorePath, updatePath } from "./common.js";

export function updatePathServer(name: string): ServerElement {
  return {
    async request(req, ctx, next) {
      const conn = req.connection;
      if (!conn) throw new NsmError(status.INVALID_ARGUMENT, `${name}: request has no connection`);
      const callerIndex = updatePath(conn, name);
      const out = await next.request(req, ctx);
      return restorePath(out, callerIndex);
    },
    async close(conn, ctx, next) {
      updatePath(conn, name);
      return next.close(conn, ctx);
    },
  };
}
