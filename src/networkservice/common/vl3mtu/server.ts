/**
 * vl3MtuServer: every connection of a vL3 endpoint gets the smallest MTU seen so far (upstream
 * `sdk/pkg/networkservice/connectioncontext/mtu/vl3mtu`): it starts at 9000 and a request that
 * comes with a smaller MTU (a tunnel on its path) lowers it for the connections that follow.
 * (Upstream also pushes the lower MTU to the connections already made; ours does not yet.)
 */
import { create, ConnectionContextSchema } from "../../../api/index.js";
import type { ServerElement } from "../../../core/index.js";

export const VL3_MTU = 9000;

export function vl3MtuServer(): ServerElement & { readonly mtu: number } {
  let min = VL3_MTU;
  return {
    get mtu() {
      return min;
    },
    async request(req, ctx, next) {
      const c = (req.connection!.context ??= create(ConnectionContextSchema));
      if (c.MTU && c.MTU < min) {
        ctx.log.info({ mtu: c.MTU, was: min }, "vl3: MTU lowered");
        min = c.MTU;
      }
      c.MTU = Math.min(c.MTU || VL3_MTU, min);
      return next.request(req, ctx);
    },
  };
}
