/**
 * metricsServer (nsmgr, with TELEMETRY on): after each Request and Close, every integer value in
 * every path segment's `metrics` map becomes an OpenTelemetry counter named
 * `<segment name>_<metric>` (e.g. `forwarder-0_server_rx_bytes`), advanced by how much it grew
 * since this connection's last report (a value that went down counts as a restart from zero).
 * upstream: sdk pkg/networkservice/common/metrics.
 *
 *   const el = metricsServer(otel.meter);
 */
import type { Counter, Meter } from "@opentelemetry/api";
import type { Connection } from "../../../api/index.js";
import type { ServerElement } from "../../../core/index.js";

/** OTel instrument names: a letter, then up to 254 of [A-Za-z0-9_.-/] */
const instrumentName = (s: string) =>
  s
    .replace(/[^A-Za-z0-9_.\-/]/g, "_")
    .replace(/^[^A-Za-z]/, "m$&")
    .slice(0, 255);

export function metricsServer(meter: Meter, o: { alive?: (ourId: string) => boolean } = {}): ServerElement {
  const counters = new Map<string, Counter>();
  /** last value per connection id and counter name */
  const last = new Map<string, Map<string, bigint>>();
  /** caller's id → our segment id, to forget connections closed inside the chain (timeout) */
  const ours = new Map<string, string>();
  const prune = () => {
    if (o.alive)
      for (const [k, id] of ours)
        if (!o.alive(id)) {
          ours.delete(k);
          last.delete(k);
        }
  };

  const report = (conn: Connection | undefined, id: string) => {
    if (!conn?.path) return;
    const seen = last.get(id) ?? new Map<string, bigint>();
    last.set(id, seen);
    for (const seg of conn.path.pathSegments) {
      for (const [k, raw] of Object.entries(seg.metrics)) {
        if (!/^\d+$/.test(raw)) continue;
        const name = instrumentName(`${seg.name}_${k}`);
        const v = BigInt(raw);
        const prev = seen.get(name);
        const delta = prev === undefined || v < prev ? v : v - prev;
        seen.set(name, v);
        if (delta === 0n) continue;
        let c = counters.get(name);
        if (!c) counters.set(name, (c = meter.createCounter(name)));
        c.add(Number(delta));
      }
    }
  };

  return {
    async request(req, ctx, next) {
      const id = req.connection?.id ?? "";
      if (!last.has(id)) prune();
      const conn = await next.request(req, ctx);
      report(conn, id);
      const p = conn.path;
      ours.set(id, p?.pathSegments[p.index + 1]?.id ?? conn.id);
      return conn;
    },
    async close(conn, ctx, next) {
      try {
        await next.close(conn, ctx);
        report(conn, conn.id);
      } finally {
        last.delete(conn.id);
        ours.delete(conn.id);
      }
    },
  };
}
