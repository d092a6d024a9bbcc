/**
 * dnsContextClient: keeps the DNS configs each connection's endpoint sent back, by connection id,
 * for the client's local DNS proxy (upstream `sdk/pkg/networkservice/connectioncontext/dnscontext`
 * client); Close forgets them. `configs()` is every stored config plus the workload's original
 * one (its resolv.conf servers), which the proxy keeps asking as well.
 */
import type { DNSConfig } from "../../../api/index.js";
import type { ClientElement } from "../../../core/index.js";

export interface DnsConfigStore {
  configs(): { dnsServerIps: string[]; searchDomains: string[] }[];
}

export function dnsContextClient(
  original: { dnsServerIps: string[]; searchDomains: string[] } | undefined,
): ClientElement & DnsConfigStore {
  const byConn = new Map<string, DNSConfig[]>();
  return {
    configs() {
      const all = [...byConn.values()]
        .flat()
        .map((c) => ({ dnsServerIps: [...c.dnsServerIps], searchDomains: [...c.searchDomains] }));
      return original ? [...all, original] : all;
    },
    async request(req, ctx, next) {
      const out = await next.request(req, ctx);
      byConn.set(out.id, [...(out.context?.dnsContext?.configs ?? [])]);
      return out;
    },
    async close(conn, ctx, next) {
      byConn.delete(conn.id);
      return next.close(conn, ctx);
    },
  };
}
