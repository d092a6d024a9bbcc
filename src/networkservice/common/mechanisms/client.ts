/**
 * mechanismsClient: lets each mechanism's client element add its preference (in the order
 * given), then after the response runs the element of the mechanism the server chose.
 */
import { chain, type ClientElement } from "../../../core/index.js";

export function mechanismsClient(byType: Readonly<Record<string, ClientElement>>): ClientElement {
  const all = chain(...Object.values(byType));
  const chains = new Map(Object.entries(byType).map(([t, e]) => [t, chain(e)]));
  return {
    request: (req, ctx, next) => all.request(req, ctx, next),
    async close(conn, ctx, next) {
      const c = conn.mechanism ? chains.get(conn.mechanism.type) : undefined;
      return c ? c.close(conn, ctx, next) : next.close(conn, ctx);
    },
  };
}
