/**
 * Registry matching as upstream does it (sdk: pkg/tools/matchutils): Find queries are templates
 * whose non-empty fields filter, and `matchEndpoint` picks the endpoints a NetworkService's
 * `matches` allow for one request (upstream `sdk/pkg/tools/matchutils`; docs/registry.md).
 *
 *   const nses = all.filter((c) => matchNse(query, c));
 *   const candidates = matchEndpoint(conn.labels, ns, nses); // [] → "candidates not found"
 */
import {
  create,
  equals,
  MatchSchema,
  type Match,
  type NetworkService,
  type NetworkServiceEndpoint,
} from "../api/index.js";

/**
 * True if `candidate` matches the query template: `name` exact, every queried service label
 * present with the same value, `expiration_time` equal seconds, `network_service_names` ⊆
 * candidate's, `url` a substring of the candidate's URL (each only when set in the query).
 */
export function matchNse(query: NetworkServiceEndpoint, candidate: NetworkServiceEndpoint): boolean {
  if (query.name && query.name !== candidate.name) return false;
  for (const [svc, want] of Object.entries(query.networkServiceLabels)) {
    const have = candidate.networkServiceLabels[svc];
    if (!have) return false;
    for (const [k, v] of Object.entries(want.labels)) if (have.labels[k] !== v) return false;
  }
  if (query.expirationTime && query.expirationTime.seconds !== (candidate.expirationTime?.seconds ?? 0n)) return false;
  for (const n of query.networkServiceNames) if (!candidate.networkServiceNames.includes(n)) return false;
  if (query.url && !candidate.url.includes(query.url)) return false;
  return true;
}

/** True if `candidate` matches: `name` exact, `payload` exact, `matches` deep-equal (each when set in the query). */
export function matchNs(query: NetworkService, candidate: NetworkService): boolean {
  if (query.name && query.name !== candidate.name) return false;
  if (query.payload && query.payload !== candidate.payload) return false;
  if (query.matches.length) {
    if (query.matches.length !== candidate.matches.length) return false;
    for (let i = 0; i < query.matches.length; i++) {
      if (!equals(MatchSchema, query.matches[i] ?? create(MatchSchema), candidate.matches[i] ?? create(MatchSchema)))
        return false;
    }
  }
  return true;
}

/**
 * Renders the Go-template subset selectors use: `{{.key}}` (spaces allowed) becomes
 * `values[key]` (Go prints "<no value>" for a missing key). Any other `{{...}}` is not
 * supported: like a Go template error, the value stays literal.
 */
export function renderTemplate(text: string, values: Readonly<Record<string, string>>): string {
  if (!text.includes("{{")) return text;
  let ok = true;
  const out = text.replace(/\{\{(.*?)\}\}/g, (_m, inner: string) => {
    const m = /^\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(inner);
    if (!m) {
      ok = false;
      return "";
    }
    return values[m[1]!] ?? "<no value>";
  });
  return ok ? out : text;
}

/**
 * upstream IsSubset: `have` has at least as many keys as `want` and for each key of `want` the
 * value equals `want[k]` literally or rendered as a template over `values`. A missing key reads
 * as "" (Go map semantics), so an empty selector matches anything.
 */
export function isSubset(
  have: Readonly<Record<string, string>>,
  want: Readonly<Record<string, string>>,
  values: Readonly<Record<string, string>>,
): boolean {
  if (Object.keys(have).length < Object.keys(want).length) return false;
  for (const [k, v] of Object.entries(want)) {
    const a = have[k] ?? "";
    if (a !== v && a !== renderTemplate(v, values)) return false;
  }
  return true;
}

/** True if `nse` is past its `expiration_time` at `now` (ms). Entries without one never expire. */
export function isExpired(nse: NetworkServiceEndpoint, now = Date.now()): boolean {
  const t = nse.expirationTime;
  if (!t) return false;
  return Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6) <= now;
}

function matchRoutes(
  m: Match,
  ns: NetworkService,
  nses: readonly NetworkServiceEndpoint[],
  labels: Readonly<Record<string, string>>,
): NetworkServiceEndpoint[] {
  return nses.filter((nse) => {
    const have = nse.networkServiceLabels[ns.name]?.labels ?? {};
    return m.routes.some((r) => isSubset(have, r.destinationSelector, labels));
  });
}

/**
 * upstream MatchEndpoint: the endpoints among `nses` that `ns.matches` allow for a request with
 * `requestLabels` (NSC labels incl. nodeName/podName/clusterName). Expired NSEs are dropped
 * first (as upstream `sdk/pkg/networkservice/common/discover` does). Returns [] when nothing applies.
 */
export function matchEndpoint(
  requestLabels: Readonly<Record<string, string>>,
  ns: NetworkService,
  nses: readonly NetworkServiceEndpoint[],
): NetworkServiceEndpoint[] {
  const now = Date.now();
  const live = nses.filter((n) => !isExpired(n, now));
  if (ns.matches.length === 0) return live;
  for (const m of ns.matches) {
    if (!isSubset(requestLabels, m.sourceSelector, requestLabels)) continue;
    const candidates = matchRoutes(m, ns, live, requestLabels);
    if (m.fallthrough && candidates.length === 0) continue;
    if (m.metadata && m.routes.length === 0 && candidates.length === 0) return live;
    return candidates;
  }
  return [];
}
