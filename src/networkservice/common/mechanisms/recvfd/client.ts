/**
 * recvFdClient: `inode://` URLs in the next hop's answer become files of ours (the fds it sent
 * beside the answer; a lookup where fds cannot travel), kept for the connection and closed on
 * Close. upstream: sdk/pkg/networkservice/common/mechanisms/recvfd (client.go)
 */
import { metaKey, type ClientElement } from "../../../../core/index.js";
import { ReceivedFiles } from "../../../../tools/grpcfd/files.js";
import { CLIENT_CONN } from "../../../utils/keys.js";
import { inodeToFile } from "./common.js";

const FILES = metaKey<ReceivedFiles>("recvfd/client-files");

export function recvFdClient(): ClientElement {
  return {
    async request(req, ctx, next) {
      const conn = await next.request(req, ctx);
      const files = ctx.clientMeta.get(FILES) ?? new ReceivedFiles();
      try {
        await inodeToFile(conn.mechanism, files, ctx.clientMeta.get(CLIENT_CONN)?.fds, ctx.signal);
      } catch (e) {
        files.close();
        ctx.clientMeta.delete(FILES);
        throw e;
      }
      if (files.size) ctx.clientMeta.set(FILES, files);
      return conn;
    },
    async close(conn, ctx, next) {
      const files = ctx.clientMeta.get(FILES);
      ctx.clientMeta.delete(FILES);
      try {
        await next.close(conn, ctx);
      } finally {
        files?.close();
      }
    },
  };
}
