/**
 * kernelMechanismClient (NSC side): offers a KERNEL mechanism carrying our network namespace
 * (`inodeURL`, docs/api.md "Mechanisms") and the interface name, unless the request already offers one; an
 * offered KERNEL mechanism without a name gets ours. We cannot pass fds yet (grpcfd), so the
 * netns goes as a file path the forwarder can open (`/proc/<pid>/ns/net` or a bind mount);
 * `inode://` values given by the caller are left as they are.
 */
import { clone, kernel, MechanismSchema, randomIfname } from "../../../../api/index.js";
import type { ClientElement } from "../../../../core/index.js";

export interface KernelClientOptions {
  /** interface name (≤ 15 bytes; longer is cut as upstream); default `<service cut to 10>-<random>` */
  ifname?: string;
  /** our netns: `file:///proc/<pid>/ns/net` (default, this process) or `file:///run/netns/<name>` */
  netnsUrl?: string;
  /** add a KERNEL preference when the request offers none (default true); false: a memif:// request stays MEMIF-only */
  offer?: boolean;
}

export function kernelMechanismClient(o: KernelClientOptions = {}): ClientElement {
  const netns = o.netnsUrl ?? `file:///proc/${process.pid}/ns/net`;
  return {
    async request(req, ctx, next) {
      // made only when needed: a refresh offers the mechanism with its name already
      let made: string | undefined;
      const name = () => (made ??= o.ifname ?? randomIfname(req.connection?.networkService ?? ""));
      const offered = req.mechanismPreferences.filter((m) => m.type === kernel.MECHANISM);
      if (!offered.length && o.offer !== false) {
        req.mechanismPreferences.push(kernel.newKernel({ netnsUrl: netns, name: name() }));
      } else {
        for (const m of offered) {
          if (!kernel.ifnameOf(m)) kernel.setIfname(m, name(), { keep: true });
          kernel.setNetnsUrl(m, netns, { keep: true });
        }
      }
      // a refresh sends the mechanism chosen before: keep its name, fill a missing netns
      const cur = req.connection?.mechanism;
      if (cur?.type === kernel.MECHANISM) {
        const c = clone(MechanismSchema, cur);
        kernel.setNetnsUrl(c, netns, { keep: true });
        req.connection!.mechanism = c;
      }
      return next.request(req, ctx);
    },
  };
}
