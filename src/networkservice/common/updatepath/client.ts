/**
 * updatePathClient: as the server side, for a client chain. In a passthrough process the
 * segment at `path.index` already carries our name, so the path does not move.
 */
import { NsmError, status, type ClientElement } from "../../../core/index.js";
import { restorePath, updatePath } from "./common.js";

export function updatePathClient(name: string): ClientElement {
  return {
    async request(req, ctx, next) {
      const conn = req.connection;
      if (!conn) throw new NsmError(status.INVALID_ARGUMENT, `${name}: request has no connection`);
      const index = updatePath(conn, name);
      const out = await next.request(req, ctx);
      // the response may come from a hop that trimmed the path; restore only if it reaches us
      return (out.path?.pathSegments.length ?? 0) > index ? restorePath(out, index) : out;
    },
    async close(conn, ctx, next) {
      updatePath(conn, name);
      return next.close(conn, ctx);
    },
  };
}
