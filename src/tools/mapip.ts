/**
 * The internal→external IP map of an nsmgr-proxy (upstream's map-ip file, written by map-ip-k8s
 * or `nsm map-ip`): a flat YAML map, one `internal: external` pair a line, e.g.
 *
 *   172.18.0.2: 203.0.113.10
 *   "fd00::2": "2001:db8::10"
 *
 * `MapIpFile` reads it and re-reads it whenever its text changes (polled, so an atomic rename
 * counts); a file that is missing or does not parse leaves the previous map in place (logged).
 * `get(ip)` is the external address, or the address itself when the map does not name it.
 *
 *   const m = new MapIpFile("/etc/mapip/config.yaml", { log });
 *   m.get("172.18.0.2");  // "203.0.113.10"
 *   m.close();
 */
import { isIP } from "node:net";
import type { Logger } from "./log.js";
import { pollFileText, type FileText } from "./textpoll.js";

const unquote = (s: string) => {
  const t = s.trim();
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) return t.slice(1, -1);
  return t;
};

/** Parses the flat map; throws naming the line that is not `key: value` (or `{}`, comments, blank). */
export function parseMapIp(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.replace(/\s+#.*$/, "").trimEnd();
    if (!line.trim() || line.trim().startsWith("#") || line.trim() === "{}" || line.trim() === "---") continue;
    // the key/value separator is ": " (or ":" at the end); IPv6 keys are quoted
    let m = /^\s*("[^"]*"|'[^']*')\s*:\s*(.*)$/.exec(line);
    m ??= /^\s*([^\s"']+?)\s*:\s+(.*)$/.exec(line);
    if (!m) throw new Error(`line ${i + 1}: "${raw}" is not "internal: external"`);
    const k = unquote(m[1]!);
    const v = unquote(m[2]!);
    if (isIP(k) === 0 || isIP(v) === 0) throw new Error(`line ${i + 1}: "${raw}": both sides must be IP addresses`);
    out.set(k, v);
  }
  return out;
}

/** The flat YAML text of `m` (sorted, IPv6 quoted). */
export function formatMapIp(m: ReadonlyMap<string, string>): string {
  const q = (s: string) => (s.includes(":") ? `"${s}"` : s);
  return [...m]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${q(k)}: ${q(v)}\n`)
    .join("");
}

export interface IpMap {
  /** the external address of `ip` (itself when not mapped) */
  get(ip: string): string;
}

export class MapIpFile implements IpMap {
  private map = new Map<string, string>();
  private readonly poll: { stop(): void };
  /** bumped on every successful (re)load */
  version = 0;

  constructor(
    readonly path: string,
    private readonly o: { log?: Logger; pollMs?: number } = {},
  ) {
    this.poll = pollFileText(path, { everyMs: o.pollMs ?? 500 }, (r) => this.load(r));
  }

  get(ip: string): string {
    return this.map.get(ip) ?? ip;
  }

  get size(): number {
    return this.map.size;
  }

  private load(r: FileText): void {
    if ("err" in r) {
      this.o.log?.warn(
        { path: this.path, err: r.err.message },
        "map-ip: cannot read the map; keeping the previous one",
      );
      return;
    }
    const text = r.text;
    try {
      this.map = parseMapIp(text);
      this.version++;
      this.o.log?.info({ path: this.path, entries: this.map.size }, "map-ip: map loaded");
    } catch (e) {
      this.o.log?.warn(
        { path: this.path, err: (e as Error).message },
        "map-ip: the map does not parse; keeping the previous one",
      );
    }
  }

  close(): void {
    this.poll.stop();
  }
}

/** An IpMap from a fixed table (tests, in-process use). */
export function staticIpMap(entries: Readonly<Record<string, string>> = {}): IpMap {
  return { get: (ip) => entries[ip] ?? ip };
}
