/**
 * prometheusClient (NSC with PROMETHEUS on): the client-side twin of prometheusServer. It sits
 * after refresh and heal in the client chain, so their Requests are timed too (kind "refresh"
 * for a connection we already hold); `healMetrics` gives heal's hooks that time a heal from its
 * start until the connection is back (nsm_heal_duration_seconds, nsm_heals_total{reason}).
 *
 *   const nsc = client({ ..., heal: { ...healMetrics(prom) }, extra: [prometheusClient(prom)] });
 */
import type { ClientElement } from "../../../core/index.js";
import type { PromMetrics } from "../../../tools/telemetry/index.js";
import { prometheusServer } from "./server.js";

export function prometheusClient(prom: PromMetrics): ClientElement {
  return prometheusServer(prom);
}

export function healMetrics(prom: PromMetrics): {
  onHeal(connId: string, reason: string): void;
  onHealed(connId: string): void;
} {
  const started = new Map<string, () => void>();
  return {
    onHeal(connId, reason) {
      prom.heals.inc({ reason: reason.split(/[:(]/)[0]!.trim().slice(0, 40) || "unknown" });
      if (!started.has(connId)) started.set(connId, prom.healDuration.startTimer());
    },
    onHealed(connId) {
      started.get(connId)?.();
      started.delete(connId);
    },
  };
}
