/**
 * vl3DnsServer: a vL3 endpoint's names for its clients (upstream
 * `sdk/pkg/networkservice/connectioncontext/dnscontext/vl3dns`). Each Request gets our DNS config
 * (our DNS address; search domains = every suffix of the client's names after the first label,
 * `nsc-1.vl3.` → `vl3`); after success the names (from the templates, default
 * `<podName label>.<service>.`) answer with the client's addresses (A/AAAA, and PTR back); Close
 * removes them. A peer endpoint's DNS config (its server inside our global net, not ours) is kept
 * as a place to ask for names we do not know.
 */
import {
  create,
  ConnectionContextSchema,
  DNSConfigSchema,
  DNSContextSchema,
  type Connection,
} from "../../../api/index.js";
import { metaKey, NsmError, status, type ServerElement } from "../../../core/index.js";
import type { DnsRecords } from "../../../tools/dns/handlers.js";
import { renderTemplate } from "../../utils/dnstemplate.js";
import type { Vl3DnsState } from "../../utils/vl3dns.js";

const NAMES = metaKey<string[]>("vl3dns/names");

/** `a.b.c.` → [b.c, c] */
export function searchDomainsOf(name: string): string[] {
  const labels = name.replace(/\.$/, "").split(".").slice(1);
  return labels.map((_, i) => labels.slice(i).join(".")).filter(Boolean);
}

export function namesOf(templates: readonly string[], c: Connection): string[] {
  return templates.map((t) => renderTemplate(t, c)).filter((n) => n && !n.startsWith("."));
}

export function vl3DnsServer(o: {
  state: Vl3DnsState;
  records: DnsRecords;
  templates: readonly string[];
}): ServerElement {
  return {
    async request(req, ctx, next) {
      const ip = o.state.dnsIp();
      if (!ip) throw new NsmError(status.UNAVAILABLE, "DNS address is initializing");
      const conn = req.connection!;
      conn.context ??= create(ConnectionContextSchema);
      conn.context.dnsContext ??= create(DNSContextSchema);
      const configs = conn.context.dnsContext.configs;
      // a peer endpoint tells us its DNS server
      o.state.setPeer(
        conn.id,
        configs.flatMap((c) => c.dnsServerIps).filter((s) => s !== ip && o.state.inGlobal(s)),
      );
      const names = namesOf(o.templates, conn);
      const search = [...new Set(names.flatMap(searchDomainsOf))];
      if (!configs.some((c) => c.dnsServerIps.includes(ip)))
        configs.push(create(DNSConfigSchema, { dnsServerIps: [ip], searchDomains: search }));
      const out = await next.request(req, ctx);
      const addrs = (out.context?.ipContext?.srcIpAddrs ?? []).map((a) => a.split("/")[0]!);
      const was = ctx.meta.get(NAMES) ?? [];
      for (const n of was) if (!names.includes(n)) o.records.delete(n);
      for (const n of names) o.records.set(n, addrs);
      ctx.meta.set(NAMES, names);
      return out;
    },
    async close(conn, ctx, next) {
      for (const n of ctx.meta.get(NAMES) ?? []) o.records.delete(n);
      ctx.meta.delete(NAMES);
      o.state.setPeer(conn.id, []);
      return next.close(conn, ctx);
    },
  };
}
