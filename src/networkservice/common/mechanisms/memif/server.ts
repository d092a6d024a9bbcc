/**
 * memifMechanismServer (endpoint side): a MEMIF connection names the socket file the datapath
 * will listen on (filesystem mode, `inodeURL = file://<dir>/<connection id>.sock`) unless the
 * client chose one. The rings are set up by the memif datapath (a later issue).
 */
import { memif } from "../../../../api/index.js";
import type { ServerElement } from "../../../../core/index.js";

export function memifMechanismServer(o: { socketDir?: string } = {}): ServerElement {
  const dir = o.socketDir ?? `/run/nsm-ts/memif`;
  return {
    async request(req, ctx, next) {
      const m = req.connection?.mechanism;
      if (m?.type === memif.MECHANISM && !memif.inodeUrlOf(m)) memif.setInodeUrl(m, `file://${dir}/${req.connection!.id}.sock`);
      return next.request(req, ctx);
    },
  };
}
