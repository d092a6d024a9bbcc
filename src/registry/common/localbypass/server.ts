/**
 * localbypass (nsmgr): an NSE registering through nsmgr is stored upstream with the nsmgr's URL,
 * so other nodes reach it through this nsmgr; the caller gets its real URL back. Find rewrites
 * the URL of locally known NSEs to the real one and drops live entries that carry the nsmgr
 * URL but are not known here (stale ones of a previous nsmgr run). Unregister goes upstream
 * only for names known here. A Find whose query URL is REGISTERED_HERE_URL is answered from the
 * table alone: was that name registered through this nsmgr (the forwarder's local/remote rule).
 * upstream: sdk pkg/registry/common/localbypass; the question is ours.
 */
import type {
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse,
} from "../../../api/index.js";
import { NsmError, type RegistryElement, status } from "../../../core/index.js";
import { checkNseUrl, interdomain, NSE, REGISTERED_HERE_URL } from "../../tools.js";

export type LocalBypass = RegistryElement<
  NetworkServiceEndpoint,
  NetworkServiceEndpointQuery,
  NetworkServiceEndpointResponse
> & {
  /** name → real URL of the NSEs registered through this nsmgr */
  readonly local: ReadonlyMap<string, string>;
};

export function localBypassNseServer(nsmgrUrl: string): LocalBypass {
  const local = new Map<string, string>();
  return {
    local,
    async register(nse, ctx, next) {
      try {
        checkNseUrl(nse.url);
      } catch (e) {
        throw new NsmError(status.INVALID_ARGUMENT, `cannot register NSE with passed URL: ${(e as Error).message}`);
      }
      const real = nse.url;
      const known = local.get(nse.name);
      nse.url = nsmgrUrl;
      // known before the upstream answers: its watch event may reach our watchers first
      local.set(nse.name, real);
      let res;
      try {
        res = await next.register(nse, ctx);
      } catch (e) {
        if (known === undefined) local.delete(nse.name);
        else local.set(nse.name, known);
        throw e;
      }
      local.set(res.name, real);
      res.url = real;
      return res;
    },
    async *find(query, ctx, next) {
      const asked = query.networkServiceEndpoint;
      if (asked?.url === REGISTERED_HERE_URL) {
        // "was this NSE registered through this nsmgr?": our table knows, the registry does not
        const answer = NSE.fromName(asked.name);
        answer.url = REGISTERED_HERE_URL;
        yield NSE.response(answer, !local.has(asked.name));
        return;
      }
      for await (const r of next.find(query, ctx)) {
        const nse = r.networkServiceEndpoint;
        if (nse) {
          const real = local.get(nse.name);
          // a name@domain registration made through us comes back from the other domain's registry
          // with its nsmgr-proxy's URL, not ours: it is still ours
          if (real !== undefined && (nse.url === nsmgrUrl || interdomain.is(nse.name))) nse.url = real;
          else if (nse.url === nsmgrUrl && !r.deleted) continue;
        }
        yield r;
      }
    },
    async unregister(nse, ctx, next) {
      if (!local.has(nse.name)) return;
      nse.url = nsmgrUrl;
      try {
        await next.unregister(nse, ctx);
      } finally {
        local.delete(nse.name);
      }
    },
  };
}
