/**
 * mechanismsServer: dispatches to the element for the connection's mechanism type. Without a
 * chosen mechanism it tries the client's preferences in order and keeps the first that works;
 * errors: "cannot support any of the requested mechanisms [MEMIF, VFIO] (supported: KERNEL)",
 * "unsupported mechanism WIREGUARD".
 */
import { clone, MechanismSchema, NetworkServiceRequestSchema } from "../../../api/index.js";
import { chain, messageOf, NsmError, status, type ServerElement } from "../../../core/index.js";

export function mechanismsServer(byType: Readonly<Record<string, ServerElement>>): ServerElement {
  const types = Object.keys(byType);
  const chains = new Map(types.map((t) => [t, chain(byType[t]!)]));
  return {
    async request(req, ctx, next) {
      const chosen = req.connection?.mechanism;
      if (chosen) {
        const c = chains.get(chosen.type);
        if (!c)
          throw new NsmError(
            status.INVALID_ARGUMENT,
            `unsupported mechanism ${chosen.type} (supported: ${types.join(", ")})`,
          );
        return c.request(req, ctx, next);
      }
      const errors: string[] = [];
      for (const m of req.mechanismPreferences) {
        const c = chains.get(m.type);
        if (!c) continue;
        const r = clone(NetworkServiceRequestSchema, req);
        r.connection!.mechanism = clone(MechanismSchema, m);
        try {
          return await c.request(r, ctx, next);
        } catch (e) {
          if (ctx.signal.aborted) throw e;
          errors.push(`${m.type}: ${messageOf(e)}`);
        }
      }
      const asked = req.mechanismPreferences.map((m) => m.type).join(", ");
      throw new NsmError(
        status.INVALID_ARGUMENT,
        `cannot support any of the requested mechanisms [${asked}] (supported: ${types.join(", ")})${errors.length ? `: ${errors.join("; ")}` : ""}`,
      );
    },
    async close(conn, ctx, next) {
      const t = conn.mechanism?.type ?? "";
      const c = chains.get(t);
      if (!c)
        throw new NsmError(
          status.INVALID_ARGUMENT,
          `cannot close: unsupported mechanism "${t}" (supported: ${types.join(", ")})`,
        );
      return c.close(conn, ctx, next);
    },
  };
}
