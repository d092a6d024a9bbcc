/**
 * connlogServer: one log line per connection event at this hop, with the hop's ctx.log (which
 * carries `connId`), so `nsm trace` and a grep follow a connection through every process:
 * INFO for a first Request and a Close, DEBUG for a refresh, WARN for a failure. Fields: kind,
 * ms, and on success the endpoint and the next hop's segment name. Keeps its own map of the
 * connections it has seen, so it can sit in front of the endpoint chain.
 *
 *   const ns = chain(connlogServer(), endpointChain);
 */
import { messageOf, type ServerElement } from "../../../core/index.js";

export function connlogServer(o: { alive?: (ourId: string) => boolean } = {}): ServerElement {
  /** caller's id → our segment id */
  const seen = new Map<string, string>();
  // a connection closed inside the chain (timeout) never passes here: forget it when a new one comes
  const prune = () => {
    if (o.alive) for (const [k, ours] of seen) if (!o.alive(ours)) seen.delete(k);
  };
  return {
    async request(req, ctx, next) {
      const id = req.connection?.id ?? "";
      const kind = seen.has(id) ? "refresh" : "request";
      if (kind === "request") prune();
      const t0 = performance.now();
      try {
        const conn = await next.request(req, ctx);
        const p = conn.path;
        seen.set(id, p?.pathSegments[p.index + 1]?.id ?? conn.id);
        const fields = {
          kind,
          ms: Math.round(performance.now() - t0),
          nse: conn.networkServiceEndpointName,
          segment: p?.pathSegments[p.index + 1]?.id,
          next: p?.pathSegments[p.index + 2]?.name,
        };
        if (kind === "request") ctx.log.info(fields, `connection established to ${conn.networkService}`);
        else ctx.log.debug(fields, "connection refreshed");
        return conn;
      } catch (e) {
        ctx.log.warn({ kind, ms: Math.round(performance.now() - t0), err: messageOf(e) }, `${kind} failed`);
        throw e;
      }
    },
    async close(conn, ctx, next) {
      seen.delete(conn.id);
      try {
        await next.close(conn, ctx);
        ctx.log.info({ kind: "close" }, "connection closed");
      } catch (e) {
        ctx.log.warn({ kind: "close", err: messageOf(e) }, "close failed");
        throw e;
      }
    },
  };
}
