/** dnsContextServer: appends the configured DNS configs to the connection, unless an equal one (same IPs and domains) is there. */
import {
  create,
  ConnectionContextSchema,
  DNSConfigSchema,
  DNSContextSchema,
  type DNSConfig,
  type MessageInitShape,
} from "../../../api/index.js";
import type { ServerElement } from "../../../core/index.js";

const same = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join() === [...b].sort().join();

export function dnsContextServer(configs: readonly MessageInitShape<typeof DNSConfigSchema>[]): ServerElement {
  const mine = configs.map((c) => create(DNSConfigSchema, c));
  if (!mine.length) return {};
  return {
    async request(req, ctx, next) {
      const conn = req.connection!;
      conn.context ??= create(ConnectionContextSchema);
      conn.context.dnsContext ??= create(DNSContextSchema);
      const have = conn.context.dnsContext.configs;
      for (const c of mine) {
        if (
          !have.some((h: DNSConfig) => same(h.dnsServerIps, c.dnsServerIps) && same(h.searchDomains, c.searchDomains))
        )
          have.push(create(DNSConfigSchema, c));
      }
      return next.request(req, ctx);
    },
  };
}
