/**
 * `nsm status`'s model: a snapshot of the mesh from the registry (forwarders, NSEs, services)
 * and from every nsmgr's MonitorConnection stream (connections with path, mechanisms, addresses
 * and the interface counters the forwarders put in their path segments). `watchMesh` keeps the
 * monitor streams open and hands a fresh snapshot after each event.
 *
 *   const snap = await snapshot(targetsFromState(state), { timeoutMs: 3000 });
 *   console.log(renderStatus(snap));
 */
import {
  ConnectionEventType,
  create,
  MonitorScopeSelectorSchema,
  NetworkServiceEndpointQuerySchema,
  NetworkServiceQuerySchema,
  type Connection,
  type NetworkServiceEndpoint,
} from "../api/index.js";
import { dial, messageOf, newCtx, type GrpcConn } from "../core/index.js";
import { CounterMemory, iso, mergeConnections, type ConnectionView, type HopView, type Views } from "./connections.js";
import type { Target, Targets } from "./targets.js";

export { CounterMemory, mergeConnections, type ConnectionView, type HopView, type Views } from "./connections.js";

export interface RegistryEntry {
  name: string;
  url: string;
  services: string[];
  labels: Record<string, string>;
  expires?: string;
}

export interface Snapshot {
  at: string;
  source: string;
  nodes: { name: string; url: string; published?: string; error?: string; forwarders: string[]; endpoints: string[] }[];
  forwarders: RegistryEntry[];
  endpoints: RegistryEntry[];
  services: { name: string; payload: string; endpoints: number }[];
  connections: ConnectionView[];
  /** what could not be read (unreachable nsmgr, registry) */
  errors: string[];
}

function entry(e: NetworkServiceEndpoint, forwarderService: string): RegistryEntry {
  const labels: Record<string, string> = {};
  for (const s of e.networkServiceNames) Object.assign(labels, e.networkServiceLabels[s]?.labels ?? {});
  return {
    name: e.name,
    url: e.url,
    services: e.networkServiceNames.filter((s) => s !== forwarderService),
    labels,
    expires: iso(e.expirationTime),
  };
}

/** The initial state of one monitor stream (all connections it knows) */
export async function monitorOnce(conn: GrpcConn, timeoutMs: number): Promise<Map<string, Connection>> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const sel = create(MonitorScopeSelectorSchema, {});
    for await (const ev of conn.monitor.monitorConnections(sel, newCtx({ signal: ac.signal, timeoutMs }))) {
      return new Map(Object.entries(ev.connections));
    }
    return new Map();
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

export interface SnapshotOptions {
  timeoutMs?: number;
  forwarderService?: string;
}

/** Registry content, read from `targets.registry` or through the first reachable nsmgr */
async function readRegistry(t: Targets, conns: Map<string, GrpcConn>, o: SnapshotOptions, errors: string[]) {
  const timeoutMs = o.timeoutMs ?? 3000;
  const fsvc = o.forwarderService ?? "forwarder";
  const candidates: [string | undefined, GrpcConn][] = t.registry ? [[undefined, dial(t.registry)]] : [...conns];
  for (const [via, c] of candidates) {
    try {
      const ctx = newCtx({ timeoutMs });
      const nses: NetworkServiceEndpoint[] = [];
      const q = create(NetworkServiceEndpointQuerySchema, { networkServiceEndpoint: {} });
      for await (const r of c.nseRegistry.find(q, ctx))
        if (r.networkServiceEndpoint) nses.push(r.networkServiceEndpoint);
      const services: Snapshot["services"] = [];
      for await (const r of c.nsRegistry.find(create(NetworkServiceQuerySchema, { networkService: {} }), ctx))
        if (r.networkService && r.networkService.name !== fsvc)
          services.push({ name: r.networkService.name, payload: r.networkService.payload, endpoints: 0 });
      const isFwd = (e: NetworkServiceEndpoint) => e.networkServiceNames.includes(fsvc);
      const forwarders = nses.filter(isFwd).map((e) => entry(e, fsvc));
      const endpoints = nses.filter((e) => !isFwd(e)).map((e) => entry(e, fsvc));
      for (const s of services) s.endpoints = endpoints.filter((e) => e.services.includes(s.name)).length;
      const by = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
      return { via, forwarders: forwarders.sort(by), endpoints: endpoints.sort(by), services: services.sort(by) };
    } catch (e) {
      errors.push(`registry via ${c.url.href}: ${messageOf(e)}`);
    } finally {
      if (t.registry) c.close();
    }
  }
  return { via: undefined, forwarders: [], endpoints: [], services: [] };
}

/** Builds the snapshot from views already collected (watch mode) or collects them once. */
export async function snapshot(
  t: Targets,
  o: SnapshotOptions & { views?: Views; conns?: Map<string, GrpcConn>; counters?: CounterMemory } = {},
): Promise<Snapshot> {
  const errors: string[] = [];
  const owned = !o.conns;
  const conns = o.conns ?? new Map(t.nsmgrs.map((n) => [n.name, dial(n.url)] as const));
  try {
    let views = o.views;
    const unreachable = new Map<string, string>();
    if (!views) {
      views = new Map();
      const all: Target[] = [...t.nsmgrs, ...t.forwarders];
      await Promise.all(
        all.map(async (x) => {
          const c = conns.get(x.name) ?? dial(x.url);
          try {
            views!.set(x.name, await monitorOnce(c, o.timeoutMs ?? 3000));
          } catch (e) {
            unreachable.set(x.name, messageOf(e));
            errors.push(`${x.name} (${x.url}): ${messageOf(e)}`);
          } finally {
            if (!conns.has(x.name)) c.close();
          }
        }),
      );
    }
    const reachable = new Map([...conns].filter(([n]) => !unreachable.has(n)));
    const { via, ...reg } = await readRegistry(t, reachable, o, errors);
    // an nsmgr answers with the real (unix, or inode:// with fd passing) URL for what registered
    // through it, its own URL for the rest
    const atUrl = (e: RegistryEntry, n: Target) =>
      e.url === n.url ||
      (n.published !== undefined && e.url === n.published) ||
      (n.name === via && /^(unix|inode):\/\//.test(e.url));
    return {
      at: new Date().toISOString(),
      source: t.source,
      nodes: t.nsmgrs.map((n) => ({
        name: n.name,
        url: n.url,
        ...(n.published ? { published: n.published } : {}),
        ...(unreachable.has(n.name) ? { error: unreachable.get(n.name) } : {}),
        forwarders: reg.forwarders.filter((f) => atUrl(f, n)).map((f) => f.name),
        endpoints: reg.endpoints.filter((f) => atUrl(f, n)).map((f) => f.name),
      })),
      ...reg,
      connections: mergeConnections(views, o.counters),
      errors,
    };
  } finally {
    if (owned) for (const c of conns.values()) c.close();
  }
}

/**
 * Keeps one MonitorConnection stream per target open and calls `onChange` with a fresh snapshot
 * after each burst of events (and once at the start); a broken stream is re-opened. Ends with `signal`.
 */
export async function watchMesh(
  t: Targets,
  signal: AbortSignal,
  onChange: (s: Snapshot) => void | Promise<void>,
  o: SnapshotOptions & { debounceMs?: number; retryMs?: number } = {},
): Promise<void> {
  const views: Views = new Map();
  const counters = new CounterMemory();
  const conns = new Map(t.nsmgrs.map((n) => [n.name, dial(n.url)] as const));
  const fwdConns = new Map(t.forwarders.map((f) => [f.name, dial(f.url)] as const));
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve();
  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(async () => {
        if (!signal.aborted) await onChange(await snapshot(t, { ...o, views, conns, counters }));
      });
    }, o.debounceMs ?? 100);
  };
  const follow = async (name: string, c: GrpcConn) => {
    while (!signal.aborted) {
      try {
        const sel = create(MonitorScopeSelectorSchema, {});
        for await (const ev of c.monitor.monitorConnections(sel, newCtx({ signal }))) {
          const m =
            ev.type === ConnectionEventType.INITIAL_STATE_TRANSFER
              ? new Map<string, Connection>()
              : (views.get(name) ?? new Map<string, Connection>());
          for (const [id, conn] of Object.entries(ev.connections)) {
            if (ev.type === ConnectionEventType.DELETE) m.delete(id);
            else m.set(id, conn);
          }
          views.set(name, m);
          changed();
        }
      } catch {
        views.delete(name);
        changed();
      }
      if (!signal.aborted) await new Promise((r) => setTimeout(r, o.retryMs ?? 1000));
    }
  };
  try {
    changed();
    await Promise.all([...[...conns].map(([n, c]) => follow(n, c)), ...[...fwdConns].map(([n, c]) => follow(n, c))]);
  } finally {
    clearTimeout(timer);
    await running;
    for (const c of [...conns.values(), ...fwdConns.values()]) c.close();
  }
}

// ---- text -----------------------------------------------------------------------------------

const ago = (isoTime: string | undefined, now: number) => {
  if (!isoTime) return "-";
  const s = Math.round((Date.parse(isoTime) - now) / 1000);
  return s >= 0 ? `in ${s}s` : `${-s}s ago`;
};

const fmtLabels = (l: Record<string, string>) =>
  Object.entries(l)
    .map(([k, v]) => `${k}=${v}`)
    .join(",") || "-";

function table(rows: string[][], indent = "  "): string[] {
  const w = rows.reduce<number[]>((acc, r) => r.map((c, i) => Math.max(acc[i] ?? 0, c.length)), []);
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!)))
        .join("  ")
        .trimEnd(),
  );
}

export function mechanismText(m: HopView["mechanism"]): string {
  if (!m) return "-";
  const name = m.parameters.name ?? m.parameters.vni ?? "";
  return name ? `${m.type}(${name})` : m.type;
}

export function countersText(c: Record<string, string>): string {
  const side = (s: string) => {
    const rx = c[`${s}_rx_packets`],
      tx = c[`${s}_tx_packets`];
    if (rx === undefined && tx === undefined) return undefined;
    return `${c[`${s}_interface`] ?? s} rx ${rx ?? "?"} pkt/${c[`${s}_rx_bytes`] ?? "?"} B tx ${tx ?? "?"} pkt/${c[`${s}_tx_bytes`] ?? "?"} B`;
  };
  return [side("server"), side("client")].filter(Boolean).join("; ");
}

export function renderStatus(s: Snapshot): string {
  const now = Date.parse(s.at);
  const out: string[] = [`nsm status  ${s.at}  ${s.source}`, ""];
  out.push(`NODES (${s.nodes.length})`);
  out.push(
    ...table(
      s.nodes.map((n) => [
        n.name,
        n.published ?? n.url,
        n.error ? `unreachable: ${n.error}` : `forwarders: ${n.forwarders.join(",") || "-"}`,
        n.error ? "" : `endpoints: ${n.endpoints.join(",") || "-"}`,
      ]),
    ),
  );
  out.push("", `FORWARDERS (${s.forwarders.length})`);
  out.push(...table(s.forwarders.map((f) => [f.name, f.url, fmtLabels(f.labels), `expires ${ago(f.expires, now)}`])));
  out.push("", `ENDPOINTS (${s.endpoints.length})`);
  out.push(
    ...table(
      s.endpoints.map((e) => [
        e.name,
        e.url,
        `services: ${e.services.join(",")}`,
        fmtLabels(e.labels),
        `expires ${ago(e.expires, now)}`,
      ]),
    ),
  );
  out.push("", `SERVICES (${s.services.length})`);
  out.push(...table(s.services.map((x) => [x.name, `payload ${x.payload}`, `endpoints ${x.endpoints}`])));
  out.push("", `CONNECTIONS (${s.connections.length})`);
  for (const c of s.connections) {
    out.push(`  ${c.id}  ${c.networkService} → ${c.endpoint || "?"}  ${c.state}`);
    out.push(`    path        ${c.path.map((p) => p.name).join(" → ")}`);
    out.push(`    mechanisms  ${c.hops.map((h) => `${h.seenBy}: ${mechanismText(h.mechanism)}`).join("   ") || "-"}`);
    out.push(`    addresses   ${c.srcIps.join(",") || "-"} → ${c.dstIps.join(",") || "-"}`);
    const counters = Object.entries(c.counters);
    if (!counters.length) out.push("    counters    - (none reported yet: forwarders report them on refresh)");
    for (const [name, m] of counters) out.push(`    counters    ${name}: ${countersText(m)}`);
  }
  if (s.errors.length) out.push("", "ERRORS", ...s.errors.map((e) => `  ${e}`));
  return out.join("\n");
}
