/**
 * The null datapath backend: agrees to every KERNEL/MEMIF (local) and VXLAN/WIREGUARD (remote)
 * connection and plumbs nothing. It keeps the cross connects it was given so tests and
 * benchmarks can look at what a real backend would have done.
 */
import { cls, mechType, newMechanism, type Connection } from "../../../api/index.js";
import type { CrossConnect, DatapathBackend } from "../../backend.js";

export interface NullBackend extends DatapathBackend {
  /** live cross connects by id */
  readonly crossConnects: ReadonlyMap<string, CrossConnect>;
  /** how many apply/remove calls were made */
  readonly counts: { apply: number; remove: number };
}

export function nullBackend(): NullBackend {
  const xs = new Map<string, CrossConnect>();
  const counts = { apply: 0, remove: 0 };
  return {
    name: "null",
    mechanisms: { local: [mechType.KERNEL, mechType.MEMIF], remote: [mechType.VXLAN, mechType.WIREGUARD] },
    crossConnects: xs,
    counts,
    outgoingPreferences(_incoming: Connection, o: { remote: boolean }) {
      return o.remote
        ? [newMechanism(cls.REMOTE, mechType.VXLAN), newMechanism(cls.REMOTE, mechType.WIREGUARD)]
        : [newMechanism(cls.LOCAL, mechType.KERNEL), newMechanism(cls.LOCAL, mechType.MEMIF)];
    },
    async apply(x) {
      counts.apply++;
      xs.set(x.id, x);
    },
    async remove(x) {
      counts.remove++;
      xs.delete(x.id);
    },
    async close() {
      xs.clear();
    },
  };
}
