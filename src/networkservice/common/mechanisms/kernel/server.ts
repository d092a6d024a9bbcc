/**
 * kernelMechanismServer (endpoint side): a KERNEL connection names the interface to create and
 * the network namespace it goes into (ours), as upstream's kernel server does. The interface is
 * plumbed by the forwarder's datapath backend.
 */
import { kernel } from "../../../../api/index.js";
import type { ServerElement } from "../../../../core/index.js";

export interface KernelServerOptions {
  /** netns URL of this endpoint (default `file:///proc/<our pid>/ns/net`; upstream uses thread-self + fd passing) */
  netnsUrl?: string;
  /** interface name prefix when the client gave none (default: the network service name) */
  ifnamePrefix?: string;
}

export function kernelMechanismServer(o: KernelServerOptions = {}): ServerElement {
  const netns = o.netnsUrl ?? `file:///proc/${process.pid}/ns/net`;
  return {
    async request(req, ctx, next) {
      const conn = req.connection!;
      const m = conn.mechanism;
      if (m?.type === kernel.MECHANISM) {
        kernel.setNetnsUrl(m, netns);
        if (!kernel.ifnameOf(m)) kernel.setIfname(m, kernel.ifname(o.ifnamePrefix ?? conn.networkService, conn.id));
      }
      return next.request(req, ctx);
    },
  };
}
