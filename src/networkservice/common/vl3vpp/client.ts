/**
 * vl3VppClient: our links to peer vL3 endpoints are routed by our VPP (upstream cmd-nse-vl3-vpp's
 * client chain): the KERNEL interface the forwarder made in our netns goes into the service's
 * VRF, unnumbered to its loopback, with our side's routes (the peer's S and prefix via its S).
 * The interface exists once the answer is back, so it is attached before the request returns.
 */
import type { ClientElement } from "../../../core/index.js";
import type { Vl3VppRouter } from "./router.js";
import { ifnameOrThrow, routesOf } from "./server.js";

export function vl3VppClient(router: Vl3VppRouter): ClientElement {
  const key = (id: string) => `link/${id}`;
  return {
    async request(req, ctx, next) {
      const conn = await next.request(req, ctx);
      const ifname = ifnameOrThrow(conn, "peer link");
      await router.attach(key(conn.id), conn.networkService, ifname, routesOf(conn, "src", ifname), {
        waitMs: 5000,
        signal: ctx.signal,
        mtu: conn.context?.MTU,
      });
      return conn;
    },
    async close(conn, ctx, next) {
      await router.detach(key(conn.id));
      return next.close(conn, ctx);
    },
  };
}
