/** Shared by sendfd client and server: `file://` mechanism URLs → `inode://`, the file sent beside. */
import { commonKeys, type Mechanism } from "../../../../api/index.js";
import { NsmError, status } from "../../../../core/index.js";
import type { FdTransceiver } from "../../../../tools/grpcfd/socket.js";

const KEY = commonKeys.INODE_URL;

/**
 * A copy of `m` whose `file://` inodeURL is replaced by the file's `inode://` URL, its fd queued
 * on `fds`; `back` learns inode → file. `m` itself is left alone (callers keep their request).
 */
export function sendFile(m: Mechanism, fds: FdTransceiver, back: Map<string, string>): Mechanism {
  const url = m.parameters[KEY];
  if (!url?.startsWith("file://")) return m;
  const path = decodeURIComponent(url.slice("file://".length));
  let inode: string;
  try {
    inode = fds.sendFile(path);
  } catch (e) {
    throw new NsmError(
      status.FAILED_PRECONDITION,
      `sendfd: failed to send the file ${path} (the file probably doesn't exist): ${(e as Error).message}`,
      { cause: e },
    );
  }
  back.set(inode, url);
  return { ...m, parameters: { ...m.parameters, [KEY]: inode } };
}

/** inode:// of a file we sent → the caller's file:// again, in place. */
export function restoreFile(m: Mechanism | undefined, back: Map<string, string>): void {
  const orig = m && back.get(m.parameters[KEY] ?? "");
  if (m && orig) m.parameters[KEY] = orig;
}
