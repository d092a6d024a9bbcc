/**
 * sendFdClient: `file://` mechanism URLs (a netns, a memif socket) leave as `inode://<dev>/<ino>`
 * with the file's fd beside the request on the unix socket; the answer gets the `file://` URL
 * back. Over tcp nothing changes. upstream: sdk/pkg/networkservice/common/mechanisms/sendfd
 */
import type { ClientElement } from "../../../../core/index.js";
import { CLIENT_CONN } from "../../../utils/keys.js";
import { restoreFile, sendFile } from "./common.js";

export function sendFdClient(): ClientElement {
  return {
    async request(req, ctx, next) {
      const fds = ctx.clientMeta.get(CLIENT_CONN)?.fds;
      if (!fds) return next.request(req, ctx);
      const back = new Map<string, string>();
      const out = {
        ...req,
        mechanismPreferences: req.mechanismPreferences.map((m) => sendFile(m, fds, back)),
      };
      const mech = req.connection?.mechanism;
      if (req.connection && mech) out.connection = { ...req.connection, mechanism: sendFile(mech, fds, back) };
      if (!back.size) return next.request(req, ctx);
      const conn = await next.request(out, ctx);
      restoreFile(conn.mechanism, back);
      return conn;
    },
    async close(conn, ctx, next) {
      const fds = ctx.clientMeta.get(CLIENT_CONN)?.fds;
      if (!fds || !conn.mechanism) return next.close(conn, ctx);
      const back = new Map<string, string>();
      const mech = sendFile(conn.mechanism, fds, back);
      return next.close(back.size ? { ...conn, mechanism: mech } : conn, ctx);
    },
  };
}
