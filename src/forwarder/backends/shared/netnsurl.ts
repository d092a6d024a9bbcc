/**
 * Finding a workload's network namespace from a KERNEL mechanism's `inodeURL` (upstream
 * `api/pkg/api/networkservice/mechanisms/kernel`; docs/api.md "Mechanisms"):
 * `file:///proc/<pid>/ns/net` (or any netns file) is opened as is; `inode://<dev>/<ino>` (what an
 * upstream client sends when it passes its netns as an fd, which we do not receive) is looked up
 * among /run/netns/* and /proc/<pid>/ns/net by device and inode.
 */
import { readdirSync, statSync } from "node:fs";
import { Netns } from "../../../datapath/netns.js";

/** The file to open for a netns URL, or undefined for `inode://` (use findByInode). */
export function netnsPathOf(url: string): string | undefined {
  if (url.startsWith("file://")) return decodeURIComponent(url.slice("file://".length));
  if (url.startsWith("/")) return url;
  return undefined;
}

/** `inode://<dev>/<ino>` → "dev:ino" as Netns.inode() reports it, else undefined. */
export function inodeKeyOf(url: string): string | undefined {
  const m = /^inode:\/\/(\d+)\/(\d+)$/.exec(url);
  return m ? `${m[1]}:${m[2]}` : undefined;
}

/** A path to a netns with identity `key` ("dev:ino"), searching named netns first, then processes. */
export function findByInode(key: string): string | undefined {
  const candidates: string[] = [];
  try {
    for (const n of readdirSync("/run/netns")) candidates.push(`/run/netns/${n}`);
  } catch {
    /* none */
  }
  try {
    for (const p of readdirSync("/proc")) if (/^\d+$/.test(p)) candidates.push(`/proc/${p}/ns/net`);
  } catch {
    /* none */
  }
  for (const c of candidates) {
    try {
      const st = statSync(c, { bigint: true });
      if (`${st.dev}:${st.ino}` === key) return c;
    } catch {
      /* gone or not ours to see */
    }
  }
  return undefined;
}

/** Opens the netns a mechanism URL names; throws an Error naming the URL when it cannot. */
export function openNetnsUrl(url: string | undefined, what: string): Netns {
  if (!url) throw new Error(`${what}: the KERNEL mechanism has no inodeURL (netns)`);
  const path = netnsPathOf(url);
  if (path) {
    try {
      return Netns.open(path);
    } catch (e) {
      throw new Error(`${what}: cannot open netns ${url}: ${(e as Error).message}`, { cause: e });
    }
  }
  const key = inodeKeyOf(url);
  const found = key && findByInode(key);
  if (!found) throw new Error(`${what}: netns ${url} not found (unsupported URL or no namespace with that inode)`);
  return Netns.open(found);
}

/**
 * Reopens a netns recorded as (path, inode): the path if it still names that namespace, else a
 * search by inode; undefined when the namespace is gone.
 */
export function reopen(path: string, inode: string): Netns | undefined {
  try {
    const ns = Netns.open(path);
    if (ns.inode() === inode) return ns;
    ns.close();
  } catch {
    /* fall through to the search */
  }
  const found = findByInode(inode);
  if (!found) return undefined;
  try {
    return Netns.open(found);
  } catch {
    return undefined;
  }
}
