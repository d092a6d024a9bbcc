/**
 * Where a component's telemetry (src/tools/telemetry) enters its chains: servers get a log line
 * per connection event (always; `nsm trace` reads them), tracing,
 * Prometheus timing and (nsmgr) upstream's per-segment counters in front of their endpoint chain;
 * the NSC gets the client twins inside its chain (so refresh and heal are seen) and heal hooks.
 * Without telemetry the client functions return what they were given.
 *
 *   const ns = instrumentServer(ep, telemetry, { perSegmentCounters: true });
 */
import { chain, type Chain, type ClientElement, type ServerElement } from "../../core/index.js";
import type { Telemetry } from "../../tools/telemetry/index.js";
import type { Endpoint } from "../chains/endpoint.js";
import type { HealOptions } from "../common/heal/client.js";
import { connlogServer } from "../common/connlog/server.js";
import { metricsServer } from "../common/metrics/server.js";
import { healMetrics, prometheusClient } from "../common/prometheus/client.js";
import { prometheusServer, type PrometheusServerOptions } from "../common/prometheus/server.js";
import { traceClient } from "../common/trace/client.js";
import { traceServer } from "../common/trace/server.js";

/**
 * `ep.networkService` with the elements in front; `ep.monitor` tells them which connections are
 * still alive (a timeout closes inside the chain, behind their back).
 */
export function instrumentServer(
  ep: Endpoint,
  t: Telemetry | undefined,
  o: Omit<PrometheusServerOptions, "alive"> & { perSegmentCounters?: boolean } = {},
): Chain {
  const alive = (id: string) => ep.monitor.connections.has(id);
  const front: ServerElement[] = [
    connlogServer({ alive }),
    t?.otel ? traceServer(t.otel.tracer) : {},
    t?.prom ? prometheusServer(t.prom, { ...o, alive }) : {},
    t?.otel && o.perSegmentCounters ? metricsServer(t.otel.meter, { alive }) : {},
  ];
  return chain(...front, ep.networkService);
}

export function telemetryClient(t: Telemetry | undefined): ClientElement[] {
  return [t?.otel ? traceClient(t.otel.tracer) : {}, t?.prom ? prometheusClient(t.prom) : {}];
}

export function instrumentHeal(heal: HealOptions | false, t: Telemetry | undefined): HealOptions | false {
  if (!heal || !t?.prom) return heal;
  const m = healMetrics(t.prom);
  return {
    ...heal,
    onHeal: (id, reason) => {
      m.onHeal(id, reason);
      heal.onHeal?.(id, reason);
    },
    onHealed: (id, conn) => {
      m.onHealed(id);
      heal.onHealed?.(id, conn);
    },
  };
}
