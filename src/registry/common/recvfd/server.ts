/**
 * recvFdNseServer (nsmgr): an NSE registering `inode://<dev>/<ino>` over a unix socket is
 * stored with the socket fd it sent as `unix:///proc/<pid>/fd/<n>`, which nsmgr and its
 * forwarders dial; without fd passing the inode is looked up on this host. The fds of an NSE
 * are closed when it unregisters (expiry included). upstream: sdk/pkg/registry/common/recvfd
 */
import { INCOMING, NsmError, status, type NseRegistryElement } from "../../../core/index.js";
import { ReceivedFiles } from "../../../tools/grpcfd/files.js";

export type RecvFdNse = NseRegistryElement & { /** NSE names with files held (tests) */ readonly held: () => number };

export function recvFdNseServer(): RecvFdNse {
  const byName = new Map<string, ReceivedFiles>();
  const toUnix = async (
    url: string,
    name: string,
    files: ReceivedFiles,
    ctx: Parameters<NonNullable<NseRegistryElement["register"]>>[1],
  ) => {
    try {
      return `unix://${await files.path(url, ctx.get(INCOMING)?.fds, ctx.signal)}`;
    } catch (e) {
      throw new NsmError(status.INVALID_ARGUMENT, `recvfd: NSE ${name}: ${(e as Error).message}`, { cause: e });
    }
  };
  return {
    held: () => byName.size,
    async register(nse, ctx, next) {
      if (!nse.url.startsWith("inode://")) return next.register(nse, ctx);
      const known = byName.get(nse.name);
      const files = known ?? new ReceivedFiles();
      const inode = nse.url;
      try {
        const localUrl = await toUnix(inode, nse.name, files, ctx);
        // the inner chain may edit what it is given (localbypass puts nsmgr's URL in): compare
        // the answer with the string we sent, so the caller gets its inode URL back (upstream
        // swaps the file back to the inode too) and re-registers with it on refresh and heal
        const res = await next.register({ ...nse, url: localUrl }, ctx);
        byName.set(res.name, files);
        if (res.url === localUrl) res.url = inode;
        return res;
      } catch (e) {
        if (!known) files.close();
        throw e;
      }
    },
    async unregister(nse, ctx, next) {
      const files = byName.get(nse.name);
      byName.delete(nse.name);
      try {
        const url =
          nse.url.startsWith("inode://") && files
            ? `unix://${await files.path(nse.url, undefined, ctx.signal).catch(() => "")}`
            : nse.url;
        await next.unregister({ ...nse, url }, ctx);
      } finally {
        files?.close();
      }
    },
  };
}
