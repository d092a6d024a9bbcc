/**
 * excludedPrefixesServer (upstream sdk `pkg/networkservice/common/excludedprefixes`, nsmgr
 * side): adds the prefixes listed in a YAML file — what `nsm exclude-prefixes` writes,
 * `Prefixes: [...]` (key read case-insensitively) — to every Request's
 * `ip_context.excluded_prefixes`, so the endpoint's IPAM hands out none of them. The file's
 * text is re-read every `pollMs` (default 250 ms) and used when it changed; a missing or empty
 * file adds nothing. What it added to a connection last time is taken out again first, so a refresh
 * after the file changed carries the new list only (and the IPAM moves a pair that is now
 * excluded).
 *
 *   chain(excludedPrefixesServer({ file: "/var/lib/networkservicemesh/config/excluded_prefixes.yaml", signal }), ...)
 */
import { create, ConnectionContextSchema, IPContextSchema } from "../../../api/index.js";
import type { ServerElement } from "../../../core/index.js";
import { type Logger, silentLogger } from "../../../tools/log.js";
import { pollFileText } from "../../../tools/textpoll.js";

/** The prefixes of `Prefixes:` (block list or flow `[a, b]`); [] when there is none. */
export function parsePrefixesFile(text: string): string[] {
  const out: string[] = [];
  let inList = false;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trimEnd();
    if (!line.trim()) continue;
    const key = /^([A-Za-z_]+):\s*(.*)$/.exec(line);
    if (key) {
      inList = key[1]!.toLowerCase() === "prefixes";
      const flow = /^\[(.*)\]$/.exec(key[2]!.trim());
      if (inList && flow) for (const p of flow[1]!.split(",")) if (p.trim()) out.push(unquote(p.trim()));
      continue;
    }
    const item = /^\s*-\s+(.+)$/.exec(line);
    if (inList && item) out.push(unquote(item[1]!.trim()));
  }
  return out;
}
const unquote = (s: string) => s.replace(/^(["'])(.*)\1$/, "$2");

export function excludedPrefixesServer(o: {
  file: string;
  signal: AbortSignal;
  log?: Logger;
  pollMs?: number;
}): ServerElement {
  const log = o.log ?? silentLogger;
  let prefixes: string[] = [];
  // a missing file is the same as an empty one: nothing to exclude
  pollFileText(o.file, { everyMs: o.pollMs ?? 250, signal: o.signal }, (r) => {
    const next = parsePrefixesFile("text" in r ? r.text : "");
    if (next.join() !== prefixes.join()) log.info({ file: o.file, prefixes: next }, "excluded prefixes loaded");
    prefixes = next;
  });
  const added = new Map<string, string[]>(); // connection id → what we added to it
  return {
    async request(req, ctx, next) {
      const conn = req.connection!;
      const before = added.get(conn.id) ?? [];
      if (prefixes.length || before.length) {
        conn.context ??= create(ConnectionContextSchema);
        conn.context.ipContext ??= create(IPContextSchema);
        const ip = conn.context.ipContext;
        ip.excludedPrefixes = ip.excludedPrefixes.filter((p) => !before.includes(p));
        const mine = prefixes.filter((p) => !ip.excludedPrefixes.includes(p));
        ip.excludedPrefixes.push(...mine);
        added.set(conn.id, mine);
      }
      return next.request(req, ctx);
    },
    async close(conn, ctx, next) {
      added.delete(conn.id);
      return next.close(conn, ctx);
    },
  };
}
