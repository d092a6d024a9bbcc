/**
 * discoverServer (forwarder, nsmgr-proxy): finds where the connection should go. A named NSE is
 * looked up by name; otherwise the NetworkService is looked up and its live NSEs filtered by the
 * service's matches against the request labels; roundrobin then picks one. Errors say what the
 * registry had: "no endpoint for network service icmp (registry had 0 matches for labels {app=a})".
 *
 * When the lookup is a local cache (`registry.resync` exists) and the request failed with
 * UNAVAILABLE on every endpoint the cache named (dead sockets: the NSE restarted under another
 * URL), the cache may be what is wrong: it is resynced from the registry and, when that changed
 * the endpoints or their URLs, the request is tried once more with the registry's current ones.
 * At most one resync runs every 2 s (the lookup decides); other failures meanwhile fail at once.
 *
 * upstream: sdk pkg/networkservice/common/discover: the service is found by name and the
 * request's payload; the caller's request gets the service's payload and the rest of the chain
 * works on a copy (so what roundrobin and later elements set does not leak back to the caller).
 */
import {
  clone,
  NetworkServiceRequestSchema,
  type NetworkServiceEndpoint,
  type NetworkServiceRequest,
} from "../../../api/index.js";
import { NsmError, status, type Ctx, type NetworkServiceServer, type ServerElement } from "../../../core/index.js";
import { isExpired, matchEndpoint } from "../../../registry/match.js";
import { CANDIDATES, CLIENT_URL } from "../../utils/keys.js";
import { fmtLabels } from "../../utils/path.js";
import { findNs, findNses, type RegistryLookup } from "../../utils/registry.js";

const fingerprint = (nses: readonly NetworkServiceEndpoint[]) =>
  nses
    .map((n) => `${n.name}=${n.url}`)
    .sort()
    .join(",");

export function discoverServer(registry: RegistryLookup): ServerElement {
  /** Looks the endpoints up; `go()` continues the chain with them. */
  async function discover(req: NetworkServiceRequest, ctx: Ctx, next: NetworkServiceServer) {
    const conn = req.connection!;
    if (conn.networkServiceEndpointName) {
      const name = conn.networkServiceEndpointName;
      const nse = (await findNses(registry, { name }, ctx)).find((n) => n.name === name && !isExpired(n));
      if (!nse)
        throw new NsmError(
          status.NOT_FOUND,
          `network service endpoint ${name} not found (requested for network service ${conn.networkService})`,
        );
      return { nses: [nse], go: () => next.request(req, ctx.withValue(CLIENT_URL, nse.url)) };
    }
    const ns = await findNs(registry, conn.networkService, ctx, conn.payload);
    if (!ns)
      throw new NsmError(
        status.NOT_FOUND,
        `network service ${conn.networkService} is not found${conn.payload ? ` (with payload ${conn.payload})` : ""}`,
      );
    const all = await findNses(registry, { networkServiceNames: [ns.name] }, ctx);
    const nses = matchEndpoint(conn.labels, ns, all);
    if (!nses.length) {
      throw new NsmError(
        status.NOT_FOUND,
        `no endpoint for network service ${ns.name} (registry had ${nses.length} matches for labels ${fmtLabels(conn.labels)} among ${all.length} registered endpoint(s))`,
      );
    }
    conn.payload = ns.payload;
    return {
      nses,
      go: () => next.request(clone(NetworkServiceRequestSchema, req), ctx.withValue(CANDIDATES, { ns, nses })),
    };
  }

  return {
    async request(req, ctx, next) {
      if (ctx.get(CLIENT_URL)) return next.request(req, ctx);
      if (!registry.resync) return (await discover(req, ctx, next)).go();
      const saved = clone(NetworkServiceRequestSchema, req); // the chain after us edits req
      const first = await discover(req, ctx, next);
      try {
        return await first.go();
      } catch (e) {
        if (!(e instanceof NsmError) || e.code !== status.UNAVAILABLE || ctx.signal.aborted) throw e;
        if (!(await registry.resync())) throw e;
        const again = await discover(saved, ctx, next);
        if (fingerprint(again.nses) === fingerprint(first.nses)) throw e;
        ctx.log.info(
          { connId: saved.connection?.id, cached: fingerprint(first.nses), registry: fingerprint(again.nses) },
          "discover: the cached endpoints were stale; trying the registry's current ones",
        );
        return again.go();
      }
    },
    async close(conn, ctx, next) {
      if (ctx.get(CLIENT_URL) || !conn.networkServiceEndpointName) return next.close(conn, ctx);
      try {
        const nse = (await findNses(registry, { name: conn.networkServiceEndpointName }, ctx)).find(
          (n) => n.name === conn.networkServiceEndpointName,
        );
        if (nse) return next.close(conn, ctx.withValue(CLIENT_URL, nse.url));
      } catch (e) {
        ctx.log.debug({ connId: conn.id, err: String(e) }, "discover: lookup on close failed");
      }
      return next.close(conn, ctx);
    },
  };
}
