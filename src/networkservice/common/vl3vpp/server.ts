/**
 * vl3VppServer: each connection made to the vL3 endpoint is routed by its VPP (upstream
 * cmd-nse-vl3-vpp's server chain: `loopback`, `vrf`, `unnumbered`, `routes`): the KERNEL
 * interface the forwarder makes in our netns goes into the service's VRF, unnumbered to its
 * loopback (S), with the routes the connection asks for on our side (a host route to a client;
 * a peer's S and prefix via its S). The forwarder makes the interface after we answer, so it is
 * attached in the background. A MEMIF connection gets a memif master of our VPP on the socket
 * the memif mechanism server named (abstract, in our netns; upstream NSEs answer MEMIF so), made
 * before we answer; the forwarder's VPP connects to it as slave. Close takes either out of VPP.
 * Chain it after the vL3 elements and the mechanisms (it reads the final IP context and mechanism).
 */
import { kernel, memif, payload as payloads, type Connection } from "../../../api/index.js";
import { messageOf, NsmError, status, type ServerElement } from "../../../core/index.js";
import { plumbingOf } from "../../../forwarder/backends/shared/ipcontext.js";
import type { Logger } from "../../../tools/log.js";
import type { Vl3VppRouter } from "./router.js";

/**
 * VPP's socket filename for the MEMIF mechanism `m` as our memif mechanism server answers it:
 * `socketfile` `@<name>` (abstract) in the netns of `inodeURL`, or a filesystem path.
 */
export function vppMemifSocket(m: Connection["mechanism"]): string | undefined {
  const file = memif.socketFileOf(m);
  if (!file?.startsWith("@")) return file;
  const url = memif.inodeUrlOf(m);
  const netns = url?.startsWith("file://") ? url.slice("file://".length) : undefined;
  return `abstract:${file.slice(1)}${netns ? `,netns_name=${netns}` : ""}`;
}

/** our side's routes of `conn` on `ifname`, as the forwarder would put them into a kernel */
export function routesOf(conn: Connection, side: "src" | "dst", ifname: string) {
  return plumbingOf(conn.context?.ipContext, side, ifname).routes;
}

export function ifnameOrThrow(conn: Connection, what: string): string {
  const m = conn.mechanism;
  const n = m?.type === kernel.MECHANISM ? kernel.ifnameOf(m) : undefined;
  if (!n)
    throw new NsmError(
      status.FAILED_PRECONDITION,
      `vl3 vpp: ${what} ${conn.id} has mechanism ${m?.type ?? "none"}; only KERNEL${what === "connection" ? " and MEMIF" : ""} interfaces are routed`,
    );
  return n;
}

export function vl3VppServer(router: Vl3VppRouter, log: Logger): ServerElement {
  const live = new Map<string, AbortController>();
  return {
    async request(req, ctx, next) {
      const conn = await next.request(req, ctx);
      const socket = conn.mechanism?.type === memif.MECHANISM ? vppMemifSocket(conn.mechanism) : undefined;
      if (socket) {
        const fresh = !router.attached().has(conn.id);
        await router
          .attachMemif(conn.id, conn.networkService, socket, routesOf(conn, "dst", "memif"), {
            ethernet: conn.payload === payloads.ETHERNET,
            mtu: conn.context?.MTU,
          })
          .catch(async (e: unknown) => {
            // a first request fails whole: what the chain after us made for it goes
            if (fresh) await next.close(conn, ctx).catch(() => undefined);
            throw new NsmError(status.INTERNAL, `vl3 vpp: no memif for ${conn.id} on ${socket}: ${messageOf(e)}`);
          });
        return conn;
      }
      const ifname = ifnameOrThrow(conn, "connection");
      // before the forwarder makes the interface with its copy of S (netns.ts kernelOut6)
      await router.keepKernelOut(conn.id, ifname);
      let ac = live.get(conn.id);
      if (!ac) live.set(conn.id, (ac = new AbortController()));
      const signal = ac.signal;
      void router
        .attach(conn.id, conn.networkService, ifname, routesOf(conn, "dst", ifname), {
          signal,
          mtu: conn.context?.MTU,
        })
        .catch((e: unknown) => {
          if (!signal.aborted)
            log.warn({ connId: conn.id, ifname, err: (e as Error).message }, "vl3 vpp: cannot route the connection");
        });
      return conn;
    },
    async close(conn, ctx, next) {
      live.get(conn.id)?.abort();
      live.delete(conn.id);
      await router.detach(conn.id);
      return next.close(conn, ctx);
    },
  };
}
