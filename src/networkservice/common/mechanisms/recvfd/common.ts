/** Shared by recvfd server and client: swap `inode://` ↔ our `file:///proc/<pid>/fd/<n>` in a mechanism. */
import { commonKeys, type Mechanism } from "../../../../api/index.js";
import { NsmError, status } from "../../../../core/index.js";
import type { ReceivedFiles } from "../../../../tools/grpcfd/files.js";
import type { FdTransceiver } from "../../../../tools/grpcfd/socket.js";

const KEY = commonKeys.INODE_URL;

/** inode:// → file:// of the received (or looked up) file, in place. */
export async function inodeToFile(
  m: Mechanism | undefined,
  files: ReceivedFiles,
  fds: FdTransceiver | undefined,
  signal: AbortSignal,
): Promise<void> {
  const url = m?.parameters[KEY];
  if (!m || !url?.startsWith("inode://")) return;
  try {
    m.parameters[KEY] = `file://${await files.path(url, fds, signal)}`;
  } catch (e) {
    throw new NsmError(status.FAILED_PRECONDITION, `recvfd: ${(e as Error).message}`, { cause: e });
  }
}

/** file:// of a file we received → its inode:// again, in place; closes the files not selected. */
export function fileToInode(m: Mechanism | undefined, files: ReceivedFiles): void {
  const url = m?.parameters[KEY];
  if (!m || !url?.startsWith("file://")) return;
  const inode = files.inodeOf(url.slice("file://".length));
  if (!inode) return;
  m.parameters[KEY] = inode;
  files.keepOnly(inode);
}
