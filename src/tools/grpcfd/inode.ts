/**
 * Resolving `inode://<dev>/<ino>` without fd passing (a tcp hop, where grpcfd cannot carry the
 * fd): find a file on this host with that identity. Network namespaces are looked for among
 * /run/netns/* and /proc/<pid>/ns/net, unix sockets among the bound paths in /proc/net/unix,
 * and anything else among the open files of processes (/proc/<pid>/fd/*, e.g. a socket another
 * grpcfd receiver holds). Root sees every process; others only their own.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { inodeKey } from "./socket.js";

export class InodeNotFoundError extends Error {
  constructor(readonly url: string) {
    super(
      `${url}: no file with that identity found (searched /run/netns, /proc/*/ns/net, unix sockets in /proc/net/unix, /proc/*/fd)`,
    );
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

const pids = () => list("/proc").filter((p) => /^\d+$/.test(p));

function* namespaces(): Generator<string> {
  for (const n of list("/run/netns")) yield `/run/netns/${n}`;
  for (const p of pids()) yield `/proc/${p}/ns/net`;
}

function* candidates(): Generator<string> {
  yield* namespaces();
  let unix = "";
  try {
    unix = readFileSync("/proc/net/unix", "utf8");
  } catch {
    /* no procfs net */
  }
  for (const line of unix.split("\n").slice(1)) {
    const path = line.trim().split(/\s+/)[7];
    if (path?.startsWith("/")) yield path;
  }
  for (const p of pids()) for (const fd of list(`/proc/${p}/fd`)) yield `/proc/${p}/fd/${fd}`;
}

let lookups = 0;
/** How many inode:// URLs this process looked up with findInode (tests: none where fds travel). */
export const inodeLookups = (): number => lookups;

/** A path on this host naming the file `url` (`inode://dev/ino`) identifies; throws InodeNotFoundError. */
export function findInode(url: string): string {
  lookups++;
  return search(url, candidates());
}

/**
 * A path naming the network namespace `url` (`inode://dev/ino`) identifies, looked for only
 * where a namespace lives on its own (a name under /run/netns, a process in it), not among open
 * fds: a namespace only held by received fds (ours, a forwarder's) counts as gone.
 * Throws InodeNotFoundError.
 */
export function findLiveNetns(url: string): string {
  return search(url, namespaces());
}

function search(url: string, paths: Iterable<string>): string {
  const key = inodeKey(url);
  if (!key) throw new Error(`"${url}" is not an inode://<dev>/<ino> URL`);
  for (const c of paths) {
    try {
      const st = statSync(c, { bigint: true });
      if (`${st.dev}:${st.ino}` === key) return c;
    } catch {
      /* gone, or not ours to see */
    }
  }
  throw new InodeNotFoundError(url);
}
