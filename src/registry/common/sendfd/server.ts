/**
 * sendFdNseServer: Find answers to a caller on a unix socket carry local `unix://` NSE URLs as
 * `inode://` with the socket's fd beside them (a forwarder then dials the fd it received).
 * upstream: sdk/pkg/registry/common/sendfd (server_linux.go)
 */
import { INCOMING, type NseRegistryElement } from "../../../core/index.js";

export function sendFdNseServer(): NseRegistryElement {
  return {
    async *find(q, ctx, next) {
      const fds = ctx.get(INCOMING)?.fds;
      for await (const r of next.find(q, ctx)) {
        const nse = r.networkServiceEndpoint;
        if (!fds || !nse?.url.startsWith("unix://")) {
          yield r;
          continue;
        }
        let url: string;
        try {
          url = fds.sendFile(nse.url.slice("unix://".length));
        } catch (e) {
          // a deleted entry's socket may be gone already: say so with its old URL
          if (r.deleted) {
            yield r;
            continue;
          }
          ctx.log.warn(
            { nse: nse.name, url: nse.url, err: (e as Error).message },
            "sendfd: cannot send the NSE socket",
          );
          yield r;
          continue;
        }
        yield { ...r, networkServiceEndpoint: { ...nse, url } };
      }
    },
  };
}
