/**
 * recvFdNseClient: `inode://` NSE URLs in Find answers from a unix socket become the fds sent
 * beside them (`unix:///proc/<pid>/fd/<n>`, one per NSE, closed when it is deleted); without fd
 * passing the inode is looked up on this host. upstream: sdk/pkg/registry/common/recvfd (client.go)
 */
import type { NseRegistryServer } from "../../../core/index.js";
import { ReceivedFiles } from "../../../tools/grpcfd/files.js";
import type { FdTransceiver } from "../../../tools/grpcfd/socket.js";

const FD_WAIT_MS = 5000;

export function recvFdNseClient(next: NseRegistryServer, fds?: FdTransceiver): NseRegistryServer & { close(): void } {
  const byName = new Map<string, ReceivedFiles>();
  return {
    register: (e, ctx) => next.register(e, ctx),
    unregister: (e, ctx) => next.unregister(e, ctx),
    async *find(q, ctx) {
      for await (const r of next.find(q, ctx)) {
        const nse = r.networkServiceEndpoint;
        if (!nse?.url.startsWith("inode://")) {
          yield r;
          continue;
        }
        let files = byName.get(nse.name);
        if (!files) byName.set(nse.name, (files = new ReceivedFiles()));
        let url = nse.url;
        try {
          // bounded: a watch stream's own signal lives for ever, and one missing fd must not stall it
          url = `unix://${await files.path(nse.url, fds, AbortSignal.any([ctx.signal, AbortSignal.timeout(FD_WAIT_MS)]))}`;
        } catch (e) {
          ctx.log.warn(
            { nse: nse.name, url: nse.url, err: (e as Error).message },
            "recvfd: cannot resolve the NSE URL",
          );
        }
        yield { ...r, networkServiceEndpoint: { ...nse, url } };
        if (r.deleted) {
          byName.delete(nse.name);
          files.close();
        }
      }
    },
    close() {
      for (const f of byName.values()) f.close();
      byName.clear();
    },
  };
}
