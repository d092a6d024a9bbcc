/**
 * Path-segment metrics of an OVS-backend connection. Veth ports: OVS's port counters (rx = what
 * the workload sent into the bridge). The vxlan port is shared, so a connection's share of it is
 * its own flows' counters.
 */
import type { OpenFlowClient } from "../../../ovs/openflow/index.js";
import { putSideMetrics } from "../shared/plumbing.js";
import type { OvsRecord, OvsVethEnd } from "./types.js";

export async function readMetrics(of: OpenFlowClient, r: OvsRecord): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const veth = async (side: "server" | "client", e: OvsVethEnd) => {
    const s = (await of.portStats(e.ofport))[0];
    if (s) putSideMetrics(out, side, `VETH/${e.port}`, { ...s, drops: s.rxDropped + s.txDropped });
  };
  if (r.src) await veth("server", r.src);
  if (r.dst) await veth("client", r.dst);
  if (r.tunnel) {
    const l = (r.src ?? r.dst)!;
    const [fromTun] = await of.flowStats({
      tableId: 0,
      match: { inPort: r.tunnel.ofport, tunnelId: BigInt(r.tunnel.vni) },
    });
    const [fromLocal] = await of.flowStats({ tableId: 0, match: { inPort: l.ofport } });
    putSideMetrics(out, r.tunnel.side === "src" ? "client" : "server", `VXLAN/${r.tunnel.port}`, {
      rxBytes: fromTun?.byteCount ?? 0n,
      rxPackets: fromTun?.packetCount ?? 0n,
      txBytes: fromLocal?.byteCount ?? 0n,
      txPackets: fromLocal?.packetCount ?? 0n,
    });
  }
  return out;
}
