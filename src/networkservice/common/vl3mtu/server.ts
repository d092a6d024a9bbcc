/**
 * vl3MtuServer: every connection of a vL3 endpoint gets the smallest MTU seen so far (upstream
 * `sdk/pkg/networkservice/connectioncontext/mtu/vl3mtu`): it starts at 9000 and a request that
 * comes with a smaller MTU (a tunnel on its path) lowers it. The connections made before then
 * are told through the monitor (UPDATE with the new MTU and state REFRESH_REQUESTED), so their
 * clients request again and get the lower MTU. Chain it after the monitor server.
 */
import { create, ConnectionContextSchema } from "../../../api/index.js";
import type { ServerElement } from "../../../core/index.js";
import { MONITOR_EVENTS, type MonitorEventSender } from "../../utils/keys.js";

export const VL3_MTU = 9000;

export function vl3MtuServer(): ServerElement & { readonly mtu: number } {
  let min = VL3_MTU;
  /** id → the MTU it was last given */
  const given = new Map<string, number>();
  let sender: MonitorEventSender | undefined;
  return {
    get mtu() {
      return min;
    },
    async request(req, ctx, next) {
      sender ??= ctx.get(MONITOR_EVENTS);
      const conn = req.connection!;
      const c = (conn.context ??= create(ConnectionContextSchema));
      const lowered = !!c.MTU && c.MTU < min;
      if (lowered) {
        ctx.log.info({ mtu: c.MTU, was: min, connId: conn.id }, "vl3: MTU lowered");
        min = c.MTU;
      }
      c.MTU = Math.min(c.MTU || VL3_MTU, min);
      const out = await next.request(req, ctx);
      given.set(conn.id, min);
      if (lowered && sender) {
        const m = min;
        for (const [id, mtu] of given)
          if (id !== conn.id && mtu > m)
            sender.refreshRequested(id, (x) => {
              (x.context ??= create(ConnectionContextSchema)).MTU = m;
            });
      }
      return out;
    },
    async close(conn, ctx, next) {
      given.delete(conn.id);
      return next.close(conn, ctx);
    },
  };
}
