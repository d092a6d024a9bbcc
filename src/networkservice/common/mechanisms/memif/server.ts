/**
 * memifMechanismServer (endpoint side, upstream sdk-vpp mechanisms/memif server without
 * changeNetNS): a MEMIF connection is served on the abstract socket
 * `socketfile = @<tmpdir>/memif/<connection id>/memif.socket` inside our netns (`inodeURL`), where
 * the endpoint's memif app listens as master and the forwarder connects as slave. Both are set
 * on every request, as upstream does (the forwarder offers MEMIF with an empty `inodeURL`).
 *
 *   mechanismsServer({ [mechType.MEMIF]: memifMechanismServer({ netnsUrl: "file:///run/netns/nse" }) })
 */
import { tmpdir } from "node:os";
import { memif } from "../../../../api/index.js";
import type { ServerElement } from "../../../../core/index.js";

export interface MemifServerOptions {
  /** our netns (default `file:///proc/<pid>/ns/net`) */
  netnsUrl?: string;
  /** directory part of the abstract socket names (default `<os.tmpdir()>/memif`, as upstream) */
  socketDir?: string;
}

/** Upstream's abstract socket name for a connection: `@/tmp/memif/<id>/memif.socket`. */
export const memifSocketName = (connId: string, dir = `${tmpdir()}/memif`): string => `@${dir}/${connId}/memif.socket`;

export function memifMechanismServer(o: MemifServerOptions = {}): ServerElement {
  const netns = o.netnsUrl ?? `file:///proc/${process.pid}/ns/net`;
  return {
    async request(req, ctx, next) {
      const m = req.connection?.mechanism;
      if (m?.type === memif.MECHANISM) {
        memif.setInodeUrl(m, netns);
        memif.setSocketFile(m, memifSocketName(req.connection!.id, o.socketDir));
      }
      return next.request(req, ctx);
    },
  };
}
