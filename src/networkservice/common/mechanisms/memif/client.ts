/** memifMechanismClient: offers a MEMIF mechanism (socket chosen by the endpoint unless `socketPath` is given). */
import { cls, memif, newMechanism } from "../../../../api/index.js";
import type { ClientElement } from "../../../../core/index.js";

export function memifMechanismClient(o: { socketPath?: string } = {}): ClientElement {
  return {
    async request(req, ctx, next) {
      if (!req.mechanismPreferences.some((m) => m.type === memif.MECHANISM)) {
        req.mechanismPreferences.push(o.socketPath ? memif.newMemif(o.socketPath) : newMechanism(cls.LOCAL, memif.MECHANISM));
      }
      return next.request(req, ctx);
    },
  };
}
