/**
 * sendFdNseClient: an NSE (or forwarder) registering a `unix://` URL over a unix socket sends it
 * as `inode://<dev>/<ino>` with the socket file's fd beside the call, as upstream endpoints do
 * (so nsmgr can reach a socket in a directory it cannot see); the answer gets the `unix://` URL
 * back. upstream: sdk/pkg/registry/common/sendfd (client_linux.go)
 */
import type { NetworkServiceEndpoint } from "../../../api/index.js";
import { NsmError, status, type NseRegistryServer } from "../../../core/index.js";
import type { FdTransceiver } from "../../../tools/grpcfd/socket.js";

function swap(nse: NetworkServiceEndpoint, fds: FdTransceiver): NetworkServiceEndpoint {
  if (!nse.url.startsWith("unix://")) return nse;
  const path = nse.url.slice("unix://".length);
  try {
    return { ...nse, url: fds.sendFile(path) };
  } catch (e) {
    throw new NsmError(
      status.FAILED_PRECONDITION,
      `sendfd: failed to send the socket ${path} of ${nse.name} (it probably doesn't exist): ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** `next` (a dialled registry) with sendfd on Register and Unregister. */
export function sendFdNseClient(next: NseRegistryServer, fds: FdTransceiver): NseRegistryServer {
  return {
    async register(nse, ctx) {
      const out = swap(nse, fds);
      const res = await next.register(out, ctx);
      if (out !== nse && res.url === out.url) res.url = nse.url;
      return res;
    },
    find: (q, ctx) => next.find(q, ctx),
    unregister: (nse, ctx) => next.unregister(swap(nse, fds), ctx),
  };
}
