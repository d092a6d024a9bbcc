/**
 * vl3DnsClient: a vL3 endpoint connecting to a peer endpoint puts its own DNS config in the
 * request (so the peer asks us for our clients' names) and keeps the peer's DNS server from the
 * answer (so we ask it for its clients' names) (upstream
 * `sdk/pkg/networkservice/connectioncontext/dnscontext/vl3dns` client).
 */
import { create, ConnectionContextSchema, DNSConfigSchema, DNSContextSchema } from "../../../api/index.js";
import { NsmError, status, type ClientElement } from "../../../core/index.js";
import type { Vl3DnsState } from "../../utils/vl3dns.js";

export function vl3DnsClient(state: Vl3DnsState): ClientElement {
  return {
    async request(req, ctx, next) {
      const ip = state.dnsIp();
      if (!ip) throw new NsmError(status.UNAVAILABLE, "DNS address is initializing");
      const conn = req.connection!;
      conn.context ??= create(ConnectionContextSchema);
      conn.context.dnsContext ??= create(DNSContextSchema);
      const configs = conn.context.dnsContext.configs;
      if (!configs.some((c) => c.dnsServerIps.includes(ip)))
        configs.push(create(DNSConfigSchema, { dnsServerIps: [ip], searchDomains: [] }));
      const out = await next.request(req, ctx);
      const theirs = (out.context?.dnsContext?.configs ?? [])
        .flatMap((c) => c.dnsServerIps)
        .filter((s) => s !== ip && state.inGlobal(s));
      state.setPeer(`client/${conn.id}`, theirs);
      return out;
    },
    async close(conn, ctx, next) {
      state.setPeer(`client/${conn.id}`, []);
      return next.close(conn, ctx);
    },
  };
}
