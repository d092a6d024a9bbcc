/**
 * recvFdServer: a caller's `inode://` mechanism URLs become files of ours for the rest of the
 * chain (the fd it sent beside the request on the unix socket, or a lookup where fds cannot
 * travel), and the answer carries its inode URL back. The files live as long as the connection:
 * closed on Close, or when its first Request fails. upstream: sdk/pkg/networkservice/common/mechanisms/recvfd
 */
import { INCOMING, metaKey, type ServerElement } from "../../../../core/index.js";
import { ReceivedFiles } from "../../../../tools/grpcfd/files.js";
import { fileToInode, inodeToFile } from "./common.js";

const FILES = metaKey<ReceivedFiles>("recvfd/server-files");

export function recvFdServer(): ServerElement {
  return {
    async request(req, ctx, next) {
      const known = ctx.meta.get(FILES);
      const files = known ?? new ReceivedFiles();
      const fds = ctx.get(INCOMING)?.fds;
      try {
        for (const m of [...req.mechanismPreferences, req.connection?.mechanism])
          await inodeToFile(m, files, fds, ctx.signal);
        if (files.size) ctx.meta.set(FILES, files);
        const conn = await next.request(req, ctx);
        fileToInode(conn.mechanism, files);
        return conn;
      } catch (e) {
        if (!known) {
          files.close();
          ctx.meta.delete(FILES);
        }
        throw e;
      }
    },
    async close(conn, ctx, next) {
      const files = ctx.meta.get(FILES) ?? new ReceivedFiles();
      ctx.meta.delete(FILES);
      try {
        await inodeToFile(conn.mechanism, files, ctx.get(INCOMING)?.fds, ctx.signal).catch((e: unknown) =>
          ctx.log.debug({ connId: conn.id, err: (e as Error).message }, "recvfd: no file on close"),
        );
        await next.close(conn, ctx);
        fileToInode(conn.mechanism, files);
      } finally {
        files.close();
      }
    },
  };
}
