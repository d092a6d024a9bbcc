/**
 * interdomainbypass (nsmgr-proxy): where a connection goes next. For an NSE this nsmgr-proxy
 * found in another domain (its registry side remembered `name@domain → remote nsmgr-proxy`), the
 * request goes on to that nsmgr-proxy with the names unchanged. Otherwise the request came from
 * another domain: `@domain` is stripped from the NSE and service names and the connection is
 * made here: to the NSE's own URL when it registered through us (a floating registration),
 * else through discovery in the local registry. The caller gets its names back.
 * A next hop that is this nsmgr-proxy itself is refused (it would loop).
 * upstream: sdk pkg/networkservice/common/interdomainbypass.
 */
import type { Connection } from "../../../api/index.js";
import { NsmError, status, type Ctx, type ServerElement } from "../../../core/index.js";
import { CLIENT_URL } from "../../utils/keys.js";

const target = (n: string) => (n.includes("@") ? n.slice(0, n.indexOf("@")) : n);

export function interdomainBypassServer(urls: ReadonlyMap<string, string>, selfUrls: readonly string[]): ServerElement {
  /** ctx for the next hop and the names to restore on the way back (none: forwarded as is) */
  const route = (conn: Connection, ctx: Ctx): { ctx: Ctx; restore?: { nse: string; ns: string } } => {
    const name = conn.networkServiceEndpointName;
    const remote = name ? urls.get(name) : undefined;
    if (remote !== undefined) {
      if (selfUrls.includes(remote))
        throw new NsmError(
          status.FAILED_PRECONDITION,
          `network service endpoint ${name}: its domain resolves to this nsmgr-proxy itself (${remote}); refused`,
        );
      return { ctx: ctx.withValue(CLIENT_URL, remote) };
    }
    const restore = { nse: name, ns: conn.networkService };
    conn.networkServiceEndpointName = target(name);
    conn.networkService = target(conn.networkService);
    const local = urls.get(conn.networkServiceEndpointName);
    return { ctx: local !== undefined && !selfUrls.includes(local) ? ctx.withValue(CLIENT_URL, local) : ctx, restore };
  };
  return {
    async request(req, ctx, next) {
      const r = route(req.connection!, ctx);
      const res = await next.request(req, r.ctx);
      if (r.restore) {
        res.networkServiceEndpointName = r.restore.nse;
        res.networkService = r.restore.ns;
      }
      return res;
    },
    async close(conn, ctx, next) {
      const r = route(conn, ctx);
      try {
        await next.close(conn, r.ctx);
      } finally {
        if (r.restore) {
          conn.networkServiceEndpointName = r.restore.nse;
          conn.networkService = r.restore.ns;
        }
      }
    },
  };
}

/**
 * The other half of the loop guard, placed after discovery: a next hop that is this nsmgr-proxy
 * itself fails at once (UNAVAILABLE) instead of calling itself until the deadline. It happens
 * for an NSE that registered through this nsmgr-proxy before it restarted (the registry holds our
 * URL for it, and where it really is was lost): its next registration refresh brings it back.
 */
export function refuseSelfServer(selfUrls: readonly string[]): ServerElement {
  const check = (ctx: Ctx, name: string) => {
    const url = ctx.get(CLIENT_URL);
    if (url && selfUrls.includes(url))
      throw new NsmError(
        status.UNAVAILABLE,
        `network service endpoint ${name}: the registry names this nsmgr-proxy (${url}) as its next hop; it is not known here (yet): retry after its next registration refresh`,
      );
  };
  return {
    async request(req, ctx, next) {
      check(ctx, req.connection!.networkServiceEndpointName);
      return next.request(req, ctx);
    },
  };
}
