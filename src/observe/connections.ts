/**
 * The connections of `nsm status`: one view per connection merged from what every monitor
 * (nsmgrs, forwarders) reports, with the interface counters the forwarders put in their path
 * segments (see status.ts).
 */
import { ConnectionState, timestampDate, type Connection } from "../api/index.js";

export const iso = (t: Parameters<typeof timestampDate>[0] | undefined) =>
  t ? timestampDate(t).toISOString() : undefined;

export interface HopView {
  /** the process whose MonitorConnection reported this view */
  seenBy: string;
  /** its path segment index */
  index: number;
  mechanism?: { type: string; cls: string; parameters: Record<string, string> };
  state: string;
}

export interface ConnectionView {
  /** the client's connection id (first path segment) */
  id: string;
  networkService: string;
  endpoint: string;
  state: string;
  path: { name: string; id: string; expires?: string; metrics: Record<string, string> }[];
  hops: HopView[];
  srcIps: string[];
  dstIps: string[];
  /** per path segment name: its interface counters (server_rx_bytes, client_interface, ...) */
  counters: Record<string, Record<string, string>>;
}

/** Connections reported by each monitor, keyed by process name: the raw material of a snapshot. */
export type Views = Map<string, Map<string, Connection>>;

const hasCounters = (m: Record<string, string>) => Object.keys(m).some((k) => /^(server|client)_/.test(k));

/**
 * The last interface counters seen per connection (first segment id) and path segment name.
 * Counters ride on path segments, and a refresh rewrites a segment before its forwarder puts them
 * back: a view taken meanwhile lacks them. A snapshot fills such gaps from here; a connection no
 * view reports any more is forgotten.
 */
export class CounterMemory {
  readonly #last = new Map<string, Map<string, Record<string, string>>>();

  /** fills `v.counters` gaps from memory, then remembers what `v` has; forgets absent connections */
  apply(conns: readonly ConnectionView[]): void {
    const seen = new Set<string>();
    for (const v of conns) {
      seen.add(v.id);
      const mem = this.#last.get(v.id) ?? new Map<string, Record<string, string>>();
      this.#last.set(v.id, mem);
      for (const s of v.path) if (!v.counters[s.name] && mem.has(s.name)) v.counters[s.name] = mem.get(s.name)!;
      for (const [name, m] of Object.entries(v.counters)) mem.set(name, m);
    }
    for (const id of this.#last.keys()) if (!seen.has(id)) this.#last.delete(id);
  }
}

/**
 * One view per connection (the longest path any monitor reported), its counters gathered from
 * every monitor's copy of the path (one copy may be mid-refresh), gaps filled from `memory`.
 */
export function mergeConnections(views: Views, memory?: CounterMemory): ConnectionView[] {
  const byId = new Map<string, ConnectionView>();
  const counters = new Map<string, Record<string, Record<string, string>>>();
  for (const [seenBy, conns] of views)
    for (const c of conns.values()) {
      const segs = c.path?.pathSegments ?? [];
      const id = segs[0]?.id ?? c.id;
      const found = counters.get(id) ?? {};
      counters.set(id, found);
      for (const s of segs) if (!found[s.name] && hasCounters(s.metrics)) found[s.name] = { ...s.metrics };
      let v = byId.get(id);
      if (!v || segs.length > v.path.length) {
        const prev = v;
        v = {
          id,
          networkService: c.networkService,
          endpoint: c.networkServiceEndpointName,
          state: ConnectionState[c.state] ?? String(c.state),
          path: segs.map((s) => ({ name: s.name, id: s.id, expires: iso(s.expires), metrics: { ...s.metrics } })),
          hops: prev?.hops ?? [],
          srcIps: [...(c.context?.ipContext?.srcIpAddrs ?? [])],
          dstIps: [...(c.context?.ipContext?.dstIpAddrs ?? [])],
          counters: {},
        };
        byId.set(id, v);
      }
      if (c.state !== ConnectionState.UP) v.state = ConnectionState[c.state] ?? String(c.state);
      v.hops.push({
        seenBy,
        index: c.path?.index ?? 0,
        state: ConnectionState[c.state] ?? String(c.state),
        mechanism: c.mechanism && {
          type: c.mechanism.type,
          cls: c.mechanism.cls,
          parameters: { ...c.mechanism.parameters },
        },
      });
    }
  for (const v of byId.values()) {
    v.hops.sort((a, b) => a.index - b.index);
    const found = counters.get(v.id) ?? {};
    // the chosen path's own counters first, then another monitor's copy of the same segment
    for (const s of v.path) {
      const m = hasCounters(s.metrics) ? s.metrics : found[s.name];
      if (m) v.counters[s.name] = m;
    }
  }
  const out = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  memory?.apply(out);
  return out;
}
