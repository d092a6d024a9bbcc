/**
 * memifMechanismClient (NSC side, upstream sdk-vpp mechanisms/memif client): offers a MEMIF
 * mechanism carrying our network namespace in `inodeURL` (abstract-socket mode, docs/api.md "Mechanisms"), so
 * the forwarder can listen on `socketfile` inside it; or, with `socketPath`, filesystem mode
 * (`inodeURL = file://<socketPath>`). A MEMIF preference the request already offers (e.g. from a
 * `memif://svc` NS URL) gets our netns when it has none; a refresh keeps what was chosen.
 *
 *   client({ ..., extra: [memifMechanismClient({ netnsUrl: "file:///run/netns/blue", offer: false })] });
 *   // the answer: conn.mechanism = MEMIF {socketfile: "@/tmp/memif/<id>/memif.socket", inodeURL: "file:///run/netns/blue"}
 */
import { clone, cls, MechanismSchema, memif, newMechanism } from "../../../../api/index.js";
import type { ClientElement } from "../../../../core/index.js";

export interface MemifClientOptions {
  /** filesystem mode: the socket file the endpoint side listens on (we never listen) */
  socketPath?: string;
  /** our netns (default `file:///proc/<pid>/ns/net`) */
  netnsUrl?: string;
  /** add a MEMIF preference when the request offers none (default true) */
  offer?: boolean;
}

export function memifMechanismClient(o: MemifClientOptions = {}): ClientElement {
  const netns = o.netnsUrl ?? `file:///proc/${process.pid}/ns/net`;
  const fill = (m: Parameters<typeof memif.setInodeUrl>[0]) => {
    if (!memif.inodeUrlOf(m)) memif.setInodeUrl(m, o.socketPath ? `file://${o.socketPath}` : netns);
  };
  return {
    async request(req, ctx, next) {
      const offered = req.mechanismPreferences.filter((m) => m.type === memif.MECHANISM);
      if (!offered.length && o.offer !== false) {
        req.mechanismPreferences.push(
          o.socketPath
            ? memif.newMemif(o.socketPath)
            : newMechanism(cls.LOCAL, memif.MECHANISM, { [memif.keys.INODE_URL]: netns }),
        );
      }
      for (const m of offered) fill(m);
      const cur = req.connection?.mechanism;
      if (cur?.type === memif.MECHANISM && !memif.inodeUrlOf(cur)) {
        const c = clone(MechanismSchema, cur);
        fill(c);
        req.connection!.mechanism = c;
      }
      return next.request(req, ctx);
    },
  };
}
