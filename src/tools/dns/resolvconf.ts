/**
 * The workload's resolv.conf, pointed at the local DNS proxy (upstream
 * `sdk/pkg/networkservice/connectioncontext/dnscontext` client): every original line is kept
 * commented out, then a blank line, then the original properties with `nameserver` replaced by
 * the proxy's address and `search` dropped. A file already rewritten (commented lines that hold
 * nameservers) is first restored, so rewriting twice changes nothing.
 *
 *   nameserver 10.96.0.10          #nameserver 10.96.0.10
 *   search a.svc cluster.local  →  #search a.svc cluster.local
 *   options ndots:5                #options ndots:5
 *                                  (blank)
 *                                  nameserver 127.0.0.1
 *                                  options ndots:5
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  /** other keys in order, e.g. ["options", "ndots:5"] */
  other: [string, string[]][];
}

export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], other: [] };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const [k, ...v] = line.split(/\s+/);
    if (k === "nameserver") out.nameservers.push(...v);
    else if (k === "search" || k === "domain") out.search.push(...v);
    else out.other.push([k!, v]);
  }
  return out;
}

/** the original text if `text` is one we rewrote (its commented lines name servers), else `text` */
export function originalOf(text: string): string {
  const commented = text
    .split("\n")
    .filter((l) => l.startsWith("#"))
    .map((l) => l.slice(1));
  const back = commented.join("\n");
  return commented.length && parseResolvConf(back).nameservers.length ? `${back}\n` : text;
}

export function rewritten(original: string, nameserver: string): string {
  const c = parseResolvConf(original);
  const lines = original.replace(/\n$/, "").split("\n");
  const props = [`nameserver ${nameserver}`, ...c.other.map(([k, v]) => [k, ...v].join(" "))];
  if (!original.trim()) return `${props.join("\n")}\n`;
  return `${lines.map((l) => `#${l}`).join("\n")}\n\n${props.join("\n")}\n`;
}

/**
 * Points `path` at `nameserver`; returns what the file held before (its servers and search
 * domains, kept as one more DNS config) and a restore function.
 */
export function takeOverResolvConf(path: string, nameserver: string): { original: ResolvConf; restore: () => void } {
  let text = "";
  const had = existsSync(path);
  if (had) text = readFileSync(path, "utf8");
  // the directories we make (e.g. /etc/netns and /etc/netns/<name>) go again with the file
  const made: string[] = [];
  for (let d = dirname(path); !existsSync(d); d = dirname(d)) made.push(d);
  mkdirSync(dirname(path), { recursive: true });
  const orig = originalOf(text);
  writeFileSync(path, rewritten(orig, nameserver));
  return {
    original: parseResolvConf(orig),
    restore: () => {
      if (had) return writeFileSync(path, orig);
      rmSync(path, { force: true });
      for (const d of made)
        try {
          rmdirSync(d);
        } catch {
          break; // something else lives there now
        }
    },
  };
}

/**
 * The resolv.conf of this process's workload: `/etc/netns/<name>/resolv.conf` when our network
 * namespace is a named one (`ip netns add <name>`: what `ip netns exec <name>` shows as
 * /etc/resolv.conf), else /etc/resolv.conf (a container's own).
 */
export function workloadResolvConf(): string {
  let me: number;
  try {
    me = statSync("/proc/self/ns/net").ino;
  } catch {
    return "/etc/resolv.conf";
  }
  let names: string[] = [];
  try {
    names = readdirSync("/run/netns");
  } catch {
    /* no /run/netns: not a named namespace */
  }
  for (const n of names)
    try {
      if (statSync(`/run/netns/${n}`).ino === me) return `/etc/netns/${n}/resolv.conf`;
    } catch {
      /* gone meanwhile */
    }
  return "/etc/resolv.conf";
}
