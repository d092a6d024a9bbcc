/**
 * `nsm trace <connection id>`'s model: the hops of one connection (its path segments with name,
 * id, token expiry and the mechanism each hop reports for it) and, per hop, the log lines the
 * hop's process wrote about it (pino JSON lines whose connId is one of the connection's segment
 * ids), from the log files the targets name.
 *
 *   const tr = await traceConnection(targets, "nsc-0");
 *   console.log(renderTrace(tr));
 */
import { readFileSync } from "node:fs";
import { messageOf } from "../core/index.js";
import { mechanismText, snapshot, type ConnectionView, type HopView, type SnapshotOptions } from "./status.js";
import type { Targets } from "./targets.js";

export interface LogLine {
  time: string;
  level: string;
  msg: string;
  connId: string;
  /** the rest of the line's fields */
  fields: Record<string, unknown>;
}

export interface Hop {
  index: number;
  name: string;
  id: string;
  expires?: string;
  /** the mechanism this hop reports for the connection (from its MonitorConnection), if it was asked */
  mechanism?: HopView["mechanism"];
  metrics: Record<string, string>;
  /** the log file read for this hop, if any */
  log?: string;
  lines: LogLine[];
}

export interface Trace {
  connection: ConnectionView;
  hops: Hop[];
  errors: string[];
}

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

/** log lines of `file` about any of `ids`; with `name`, only lines of that process (their `name` field, when they have one) */
export function linesAbout(file: string, ids: ReadonlySet<string>, name?: string): LogLine[] {
  const out: LogLine[] = [];
  for (const raw of readFileSync(file, "utf8").split("\n")) {
    if (!raw.startsWith("{") || ![...ids].some((id) => raw.includes(id))) continue;
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      continue;
    }
    const connId = typeof j.connId === "string" ? j.connId : "";
    if (!ids.has(connId)) continue;
    if (name !== undefined && typeof j.name === "string" && j.name !== name) continue;
    const { time, level, msg, pid: _p, hostname: _h, component: _c, name: _n, ...fields } = j;
    delete fields.connId;
    out.push({
      time: typeof time === "number" ? new Date(time).toISOString() : String(time ?? ""),
      level: typeof level === "number" ? (LEVELS[level] ?? String(level)) : String(level ?? ""),
      msg: String(msg ?? ""),
      connId,
      fields,
    });
  }
  return out;
}

/** finds the connection any of whose segment ids (or a unique prefix of one) is `id` */
export function findConnection(conns: readonly ConnectionView[], id: string): ConnectionView | undefined {
  const exact = conns.find((c) => c.id === id || c.path.some((p) => p.id === id));
  if (exact) return exact;
  const pre = conns.filter((c) => c.path.some((p) => p.id.startsWith(id)));
  return pre.length === 1 ? pre[0] : undefined;
}

/** the connection's trace; throws when no target knows it (naming the targets that could not be asked) */
export async function traceConnection(t: Targets, id: string, o: SnapshotOptions = {}): Promise<Trace> {
  const snap = await snapshot(t, o);
  const c = findConnection(snap.connections, id);
  if (!c)
    throw new Error(
      `no connection with id "${id}" is known to ${t.source}${snap.errors.length ? `; not reachable: ${snap.errors.join("; ")}` : ""}`,
    );
  const ids = new Set(c.path.map((p) => p.id));
  const errors = [...snap.errors];
  const hops: Hop[] = c.path.map((p, index) => {
    const view = c.hops.find((h) => h.index === index);
    const log = t.logs.get(p.name);
    let lines: LogLine[] = [];
    if (log)
      try {
        lines = linesAbout(log, ids, p.name);
      } catch (e) {
        errors.push(`${p.name}: ${log}: ${messageOf(e)}`);
      }
    return {
      index,
      name: p.name,
      id: p.id,
      ...(p.expires ? { expires: p.expires } : {}),
      ...(view?.mechanism ? { mechanism: view.mechanism } : {}),
      metrics: p.metrics,
      ...(log ? { log } : {}),
      lines,
    };
  });
  return { connection: c, hops, errors };
}

export function renderTrace(tr: Trace, o: { maxLines?: number } = {}): string {
  const c = tr.connection;
  const max = o.maxLines ?? 50;
  const out = [
    `connection ${c.id}  ${c.networkService} → ${c.endpoint || "?"}  ${c.state}  ${c.srcIps.join(",") || "-"} → ${c.dstIps.join(",") || "-"}`,
    "",
  ];
  for (const h of tr.hops) {
    out.push(
      `[${h.index}] ${h.name}  id ${h.id}  token expires ${h.expires ?? "-"}  mechanism ${h.index === 0 ? "(client)" : mechanismText(h.mechanism)}`,
    );
    const m = Object.entries(h.metrics);
    if (m.length) out.push(`    metrics ${m.map(([k, v]) => `${k}=${v}`).join(" ")}`);
    if (!h.log) out.push("    (no log file known for this hop)");
    else if (!h.lines.length) out.push(`    (no lines about this connection in ${h.log})`);
    const shown = h.lines.slice(-max);
    if (shown.length < h.lines.length) out.push(`    ... ${h.lines.length - shown.length} earlier lines`);
    for (const l of shown) {
      const extra = Object.entries(l.fields)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      out.push(`    ${l.time} ${l.level.padEnd(5)} ${l.msg}${extra ? `  ${extra}` : ""}`);
    }
  }
  if (tr.errors.length) out.push("", "ERRORS", ...tr.errors.map((e) => `  ${e}`));
  return out.join("\n");
}
