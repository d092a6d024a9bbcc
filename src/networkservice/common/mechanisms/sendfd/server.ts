/**
 * sendFdServer: a `file://` URL in our answer (e.g. an NSE's netns) leaves as `inode://` with
 * the fd beside the answer when the caller came over a unix socket.
 * upstream: sdk/pkg/networkservice/common/mechanisms/sendfd (server.go)
 */
import { INCOMING, type ServerElement } from "../../../../core/index.js";
import { sendFile } from "./common.js";

export function sendFdServer(): ServerElement {
  return {
    async request(req, ctx, next) {
      const conn = await next.request(req, ctx);
      const fds = ctx.get(INCOMING)?.fds;
      if (fds && conn.mechanism) conn.mechanism = sendFile(conn.mechanism, fds, new Map());
      return conn;
    },
    async close(conn, ctx, next) {
      await next.close(conn, ctx);
    },
  };
}
