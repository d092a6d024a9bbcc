/**
 * Files received for one connection (NetworkService connection id or NSE name), as upstream's
 * recvfd elements keep them (sdk/pkg/networkservice/common/mechanisms/recvfd): one fd per
 * `inode://` URL, presented as the stable path `/proc/<pid>/fd/<fd>`, closed together when the
 * connection ends. Without fd passing (tcp, or a peer that did not send) the URL is resolved by
 * lookup instead (see inode.ts) and the file held open the same way.
 */
import { fdClose } from "../../native.js";
import { fdOpenPath } from "../../native/fdsock.js";
import { findInode } from "./inode.js";
import type { FdTransceiver } from "./socket.js";

export class ReceivedFiles {
  private readonly byUrl = new Map<string, { fd: number; path: string }>();
  private readonly byPath = new Map<string, string>();

  get size(): number {
    return this.byUrl.size;
  }

  /**
   * The local path for `inodeUrl`: the fd the peer sent on `fds` (waiting until `signal`
   * aborts), or, when there is no fd passing, a file found by lookup. Throws naming the URL.
   */
  async path(inodeUrl: string, fds: FdTransceiver | undefined, signal: AbortSignal): Promise<string> {
    const have = this.byUrl.get(inodeUrl);
    if (have) return have.path;
    let fd: number;
    if (fds) fd = await fds.recvFd(inodeUrl, signal);
    else {
      const found = findInode(inodeUrl);
      fd = fdOpenPath(found);
    }
    const again = this.byUrl.get(inodeUrl); // a concurrent call got it first
    if (again) {
      fdClose(fd);
      return again.path;
    }
    const path = `/proc/${process.pid}/fd/${fd}`;
    this.byUrl.set(inodeUrl, { fd, path });
    this.byPath.set(path, inodeUrl);
    return path;
  }

  /** The inode URL a path of ours stands for, if it is one. */
  inodeOf(path: string): string | undefined {
    return this.byPath.get(path);
  }

  /** Closes every file but the one for `inodeUrl` (preferences that were not selected). */
  keepOnly(inodeUrl: string): void {
    for (const [u, f] of this.byUrl) {
      if (u === inodeUrl) continue;
      this.byUrl.delete(u);
      this.byPath.delete(f.path);
      fdClose(f.fd);
    }
  }

  close(): void {
    for (const f of this.byUrl.values()) fdClose(f.fd);
    this.byUrl.clear();
    this.byPath.clear();
  }
}
