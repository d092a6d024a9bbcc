/**
 * roundRobinServer: spreads new connections of each network service over its candidate NSEs in
 * turn, and tries the next candidate when one fails. Unlike upstream, a candidate that failed in
 * the last few seconds is tried last, so a dead NSE still in the registry costs nothing.
 */
import { clone, NetworkServiceRequestSchema } from "../../../api/index.js";
import { messageOf, NsmError, status, type ServerElement } from "../../../core/index.js";
import { CANDIDATES, CLIENT_URL } from "../../utils/keys.js";

export function roundRobinServer(o: { penaltyMs?: number } = {}): ServerElement {
  const counters = new Map<string, number>();
  const failedAt = new Map<string, number>();
  const penalty = o.penaltyMs ?? 5000;
  return {
    async request(req, ctx, next) {
      const cands = ctx.get(CANDIDATES);
      if (ctx.get(CLIENT_URL) || !cands) return next.request(req, ctx);
      const n = cands.nses.length;
      const start = counters.get(cands.ns.name) ?? 0;
      counters.set(cands.ns.name, (start + 1) % 1_000_000_007);
      const now = Date.now();
      const order = Array.from({ length: n }, (_, i) => cands.nses[(start + i) % n]!);
      const recentlyFailed = (name: string) => now - (failedAt.get(name) ?? -Infinity) < penalty;
      order.sort((a, b) => Number(recentlyFailed(a.name)) - Number(recentlyFailed(b.name)));
      const errors: string[] = [];
      const codes = new Set<number>();
      for (const [i, nse] of order.entries()) {
        // each try gets the request as it came (the rest of the chain edits it); the last one may have it
        const r = i < order.length - 1 ? clone(NetworkServiceRequestSchema, req) : req;
        r.connection!.networkServiceEndpointName = nse.name;
        try {
          const conn = await next.request(r, ctx.withValue(CLIENT_URL, nse.url));
          failedAt.delete(nse.name);
          return conn;
        } catch (e) {
          if (ctx.signal.aborted) throw e;
          failedAt.set(nse.name, Date.now());
          errors.push(`${nse.name}: ${messageOf(e)}`);
          codes.add(NsmError.from(e).code);
          ctx.log.debug(
            { connId: req.connection?.id, nse: nse.name, err: messageOf(e) },
            "roundrobin: candidate failed",
          );
        }
      }
      if (failedAt.size > 10_000) failedAt.clear();
      // every candidate refused the request itself (e.g. no common mechanism): say so, retrying will not help
      const code =
        codes.size === 1 && codes.has(status.INVALID_ARGUMENT) ? status.INVALID_ARGUMENT : status.UNAVAILABLE;
      throw new NsmError(
        code,
        `all ${n} endpoint(s) for network service ${cands.ns.name} failed: ${errors.join("; ")}`,
      );
    },
  };
}
