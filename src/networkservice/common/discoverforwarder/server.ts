/**
 * discoverForwarderServer (nsmgr): picks a forwarder registered through this nsmgr (NSEs of the
 * forwarder service that `accept` says are local), keeps using it for the connection, and tries the next one when it fails:
 * "all 3 forwarders failed: fwd-a: <reason>; fwd-b: ...". A reselect forgets the chosen one;
 * after an nsmgr restart the forwarder named in the path is preferred.
 *
 * A freshly started nsmgr (the first 10 s) has no forwarder until they re-register with it
 * (~0.2–1 s after a restart): a Request that finds none then waits for one (up to 2 s, within
 * its deadline) instead of failing into the client's heal retry cadence.
 */
import {
  clone,
  ConnectionState,
  NetworkServiceRequestSchema,
  type NetworkService,
  type NetworkServiceEndpoint,
} from "../../../api/index.js";
import { messageOf, metaKey, NsmError, status, type ServerElement } from "../../../core/index.js";
import { isExpired, isSubset } from "../../../registry/match.js";
import { CLIENT_URL } from "../../utils/keys.js";
import { fmtLabels, nextSegment } from "../../utils/path.js";
import { findNs, findNses, type RegistryLookup } from "../../utils/registry.js";

const CHOSEN = metaKey<string>("discoverforwarder/name");

export interface DiscoverForwarderOptions {
  /** service name forwarders register under (NSM_FORWARDER_NETWORK_SERVICE_NAME, default "forwarder") */
  forwarderService?: string;
  /**
   * only these forwarders (default: all). upstream queries by URL = the nsmgr URL, which only
   * works on the un-rewritten registry; we ask the nsmgr's localbypass table instead.
   */
  accept?: (forwarder: NetworkServiceEndpoint) => boolean;
}

/**
 * upstream matchForwarders: the NS's first applicable match selects forwarder labels (default
 * p2p=true when the match has no metadata labels: Go decodes an empty map as nil, so an empty
 * `labels` map means the default too, never "every forwarder"). upstream returns no forwarder when no match applies to the request labels; we
 * return all, so the forwarder's discover reports what the user can act on ("no endpoint for
 * network service X (registry had 0 matches for labels {...})") instead of "no candidates".
 */
export function matchForwarders(
  labels: Readonly<Record<string, string>>,
  ns: NetworkService,
  fwds: readonly NetworkServiceEndpoint[],
  svc: string,
): NetworkServiceEndpoint[] {
  if (!ns.matches.length) return [...fwds];
  for (const m of ns.matches) {
    if (!isSubset(labels, m.sourceSelector, labels)) continue;
    const l = m.metadata?.labels;
    const want = l && Object.keys(l).length ? l : { p2p: "true" };
    const out = fwds.filter((f) => isSubset(f.networkServiceLabels[svc]?.labels ?? {}, want, labels));
    if (!out.length && m.fallthrough) continue;
    return out;
  }
  return [...fwds];
}

export function discoverForwarderServer(registry: RegistryLookup, o: DiscoverForwarderOptions = {}): ServerElement {
  const svc = o.forwarderService ?? "forwarder";
  const bornAt = Date.now();
  const find = async (ctx: Parameters<NonNullable<ServerElement["request"]>>[1], name?: string) =>
    (await findNses(registry, { networkServiceNames: [svc], name: name ?? "" }, ctx)).filter(
      (f) => !isExpired(f) && (o.accept?.(f) ?? true),
    );
  return {
    async request(req, ctx, next) {
      const conn = req.connection!;
      if (conn.state === ConnectionState.RESELECT_REQUESTED) ctx.meta.delete(CHOSEN);
      const chosen = ctx.meta.get(CHOSEN);
      const ns = await findNs(registry, conn.networkService, ctx, conn.payload);
      if (!ns)
        throw new NsmError(
          status.NOT_FOUND,
          `network service ${conn.networkService} is not found${conn.payload ? ` (with payload ${conn.payload})` : ""}`,
        );
      let all = await find(ctx, chosen);
      let fwds = matchForwarders(conn.labels, ns, all, svc);
      if (!fwds.length && Date.now() - bornAt < 10_000) {
        const until = Math.min(Date.now() + 2000, ctx.deadline - 500);
        while (!fwds.length && Date.now() < until && !ctx.signal.aborted) {
          await new Promise((r) => setTimeout(r, 50));
          all = await find(ctx, chosen);
          fwds = matchForwarders(conn.labels, ns, all, svc);
        }
      }
      if (!fwds.length) {
        throw new NsmError(
          status.NOT_FOUND,
          chosen
            ? `forwarder ${chosen} is not available for network service ${ns.name}`
            : `no forwarder for network service ${ns.name} (${all.length} registered forwarder(s), none matches labels ${fmtLabels(conn.labels)})`,
        );
      }
      if (!chosen && conn.state !== ConnectionState.RESELECT_REQUESTED) {
        const inPath = nextSegment(conn)?.name; // continuity after an nsmgr restart
        const i = inPath ? fwds.findIndex((f) => f.name === inPath) : -1;
        if (i > 0) fwds = [fwds[i]!, ...fwds.slice(0, i), ...fwds.slice(i + 1)];
      }
      const errors: string[] = [];
      const codes = new Set<status>();
      for (const [i, f] of fwds.entries()) {
        try {
          // each try gets the request as it came (the rest of the chain edits it); the last one may have it
          const r = i < fwds.length - 1 ? clone(NetworkServiceRequestSchema, req) : req;
          const out = await next.request(r, ctx.withValue(CLIENT_URL, f.url));
          ctx.meta.set(CHOSEN, f.name);
          return out;
        } catch (e) {
          if (ctx.signal.aborted) throw e;
          errors.push(`${f.name}: ${messageOf(e)}`);
          codes.add(NsmError.from(e).code);
          ctx.log.debug(
            { connId: conn.id, forwarder: f.name, err: messageOf(e) },
            "discoverforwarder: forwarder failed",
          );
        }
      }
      // one code for all (e.g. NOT_FOUND: no endpoint) is the answer; mixed failures are UNAVAILABLE
      const code = codes.size === 1 ? [...codes][0]! : status.UNAVAILABLE;
      if (fwds.length === 1) throw new NsmError(code, `forwarder ${errors[0]}`);
      throw new NsmError(code, `all ${fwds.length} forwarders failed: ${errors.join("; ")}`);
    },
    async close(conn, ctx, next) {
      const name = ctx.meta.get(CHOSEN) ?? nextSegment(conn)?.name;
      ctx.meta.delete(CHOSEN);
      if (name) {
        try {
          const f = (await find(ctx, name)).find((x) => x.name === name);
          if (f) return next.close(conn, ctx.withValue(CLIENT_URL, f.url));
        } catch (e) {
          ctx.log.debug({ connId: conn.id, err: messageOf(e) }, "discoverforwarder: lookup on close failed");
        }
      }
      return next.close(conn, ctx);
    },
  };
}
