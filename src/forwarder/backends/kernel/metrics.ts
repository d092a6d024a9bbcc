/**
 * Path-segment metrics of a kernel-backend connection: the counters of the NSC-facing interface
 * (`server_*`) and of the NSE-facing one (`client_*`), in the forwarder's view (rx = what the
 * workload sent, i.e. its interface's tx).
 */
import { reopen } from "../shared/netnsurl.js";
import { putSideMetrics } from "../shared/plumbing.js";
import type { PlumbedEnd, PlumbedRecord } from "./types.js";

export async function readMetrics(r: PlumbedRecord): Promise<Record<string, string>> {
  const kind = r.kind.toUpperCase();
  const out: Record<string, string> = {};
  const read = async (e: PlumbedEnd, side: "server" | "client") => {
    const ns = reopen(e.netns, e.inode);
    if (!ns) return;
    try {
      const s = await ns.stats(e.ifname);
      putSideMetrics(out, side, `${kind}/${e.ifname}`, {
        rxBytes: s.txBytes,
        txBytes: s.rxBytes,
        rxPackets: s.txPackets,
        txPackets: s.rxPackets,
        drops: s.rxDropped + s.txDropped,
      });
    } catch {
      /* gone: no figures */
    } finally {
      ns.close();
    }
  };
  await read(r.ends[0]!, "server");
  await read(r.ends[r.ends.length - 1]!, "client");
  return out;
}
