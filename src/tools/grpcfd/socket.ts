/**
 * FdSocket: a connected unix stream socket as a Node Duplex that also carries file descriptors,
 * as upstream's grpcfd does (github.com/edwarnicke/grpcfd): a file to send is opened O_PATH and
 * its fd rides (SCM_RIGHTS) on the next bytes written, whatever they are; every fd that arrives
 * is kept for the life of the connection under its identity `inode://<dev>/<ino>`, and a reader
 * asking for that URL gets its own duplicate, now or when it arrives.
 *
 *   const s = new FdSocket(fdDup(netSocketFd));          // takes ownership of the fd
 *   const url = s.sendFile("/proc/self/ns/net");         // "inode://4/4026531840", sent with the next write
 *   const fd = await peer.recvFd(url, signal);           // on the other side: a dup the caller owns
 *
 * Upstream sends each fd with one byte of data; we attach up to 64 fds (what upstream's reader
 * takes per read) to the first byte of a write, which its reader handles the same way.
 */
import { Duplex } from "node:stream";
import { fdClose, fdDup, fdInode } from "../../native.js";
import { fdOpenPath, fdsock, fdsockAttach, fdsockRelease } from "../../native/fdsock.js";

/** What chain elements need of a connection that can pass fds. */
export interface FdTransceiver {
  /**
   * Opens `path` (O_PATH) and queues its fd to travel with the next bytes on the connection;
   * returns the file's `inode://<dev>/<ino>` URL. Throws (NativeError) when it cannot be opened.
   */
  sendFile(path: string): string;
  /**
   * Resolves with a new fd (the caller owns it) for the file `inode://<dev>/<ino>` the peer sent
   * on this connection, waiting for it until `signal` aborts. Rejects naming the URL.
   */
  recvFd(inodeUrl: string, signal: AbortSignal): Promise<number>;
}

/** `inode://<dev>/<ino>` → "dev:ino" (the key fdInode reports), or undefined. */
export function inodeKey(url: string): string | undefined {
  const m = /^inode:\/\/(\d+)\/(\d+)$/.exec(url);
  return m ? `${m[1]}:${m[2]}` : undefined;
}

/** "dev:ino" → `inode://dev/ino` (upstream grpcfd.FDToURL). */
export function inodeUrl(key: string): string {
  const [dev, ino] = key.split(":");
  return `inode://${dev}/${ino}`;
}

const EMSGSIZE = 90;

export class FdWaitError extends Error {}

export class FdSocket extends Duplex implements FdTransceiver {
  readonly id: number;
  /** fds received on this connection, by "dev:ino"; closed when the connection closes */
  private readonly received = new Map<string, number>();
  private readonly waiters = new Map<string, Set<(fd: number | Error) => void>>();
  /** fds queued to ride on the next write; ours until sent */
  private readonly outFds: number[] = [];
  private reading = false;
  private pending?: { buf: Uint8Array; cb: (err?: Error | null) => void };
  /** for getPeer-like logs */
  readonly remoteAddress = "grpcfd";

  /** Takes ownership of `fd`, a connected AF_UNIX SOCK_STREAM socket. */
  constructor(fd: number) {
    super({ allowHalfOpen: false });
    this.id = fdsockAttach(fd, (data, fds, eof, writable, errno) => this.onNative(data, fds, eof, writable, errno));
  }

  /** number of fds received and held (tests) */
  get heldFds(): number {
    return this.received.size;
  }

  sendFile(path: string): string {
    const fd = fdOpenPath(path);
    let key: string;
    try {
      key = fdInode(fd);
    } catch (e) {
      fdClose(fd);
      throw e;
    }
    if (this.destroyed) {
      fdClose(fd);
      throw new Error(`grpcfd: cannot send ${path}: connection closed`);
    }
    this.outFds.push(fd);
    return inodeUrl(key);
  }

  recvFd(url: string, signal: AbortSignal): Promise<number> {
    const key = inodeKey(url);
    if (!key) return Promise.reject(new Error(`grpcfd: "${url}" is not an inode://<dev>/<ino> URL`));
    const have = this.received.get(key);
    if (have !== undefined) return Promise.resolve(fdDup(have));
    if (this.destroyed) return Promise.reject(new FdWaitError(`grpcfd: connection closed before ${url} arrived`));
    return new Promise<number>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.get(key)?.delete(done);
        reject(new FdWaitError(`timeout in recvfd waiting for ${url}`, { cause: signal.reason }));
      };
      const done = (fd: number | Error) => {
        signal.removeEventListener("abort", onAbort);
        if (fd instanceof Error) reject(fd);
        else resolve(fd);
      };
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      set.add(done);
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** @internal called by the dispatcher on the JS thread */
  onNative(data: Buffer | null, fds: number[], eof: boolean, writable: boolean, errno: number): void {
    for (const fd of fds) this.keep(fd);
    if (writable) this.flush();
    if (data || eof || (errno && errno !== EMSGSIZE)) this.reading = false;
    if (data) this.push(data);
    if (errno === EMSGSIZE) this.emit("warning", new Error("grpcfd: more fds arrived in one message than fit (64)"));
    else if (errno) return void this.destroy(Object.assign(new Error(`recvmsg: errno ${errno}`), { errno }));
    if (eof) this.push(null);
  }

  private keep(fd: number): void {
    let key: string;
    try {
      key = fdInode(fd);
    } catch {
      fdClose(fd);
      return;
    }
    if (this.received.has(key) || this.destroyed) {
      fdClose(fd);
      return;
    }
    this.received.set(key, fd);
    const set = this.waiters.get(key);
    if (!set) return;
    this.waiters.delete(key);
    for (const w of set) {
      try {
        w(fdDup(fd));
      } catch (e) {
        w(e as Error);
      }
    }
  }

  override _read(): void {
    if (this.reading || this.destroyed) return;
    this.reading = true;
    fdsock.want(this.id, true, false);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!chunk.length) return cb();
    this.pending = { buf: chunk, cb };
    this.flush();
  }

  /** http2 writes a frame per chunk: one sendmsg for all of them (as net.Socket's writev) */
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this._write(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), "binary", cb);
  }

  private flush(): void {
    while (this.pending) {
      const { buf, cb } = this.pending;
      const fds = this.outFds.slice(0, 64);
      let n: number;
      try {
        n = fdsock.send(this.id, buf, fds);
      } catch (e) {
        this.pending = undefined;
        return cb(e as Error);
      }
      if (n < 0) return void fdsock.want(this.id, false, true);
      if (fds.length && n > 0) for (const fd of this.outFds.splice(0, fds.length)) fdClose(fd);
      if (n >= buf.length) {
        this.pending = undefined;
        cb();
      } else this.pending.buf = buf.subarray(n);
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    try {
      fdsock.shutdown(this.id);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    fdsockRelease(this.id);
    for (const fd of this.received.values()) fdClose(fd);
    this.received.clear();
    for (const fd of this.outFds.splice(0)) fdClose(fd);
    const closed = new FdWaitError("grpcfd: connection closed while waiting for an fd");
    for (const set of this.waiters.values()) for (const w of set) w(closed);
    this.waiters.clear();
    const p = this.pending;
    this.pending = undefined;
    p?.cb(err ?? new Error("grpcfd: socket closed"));
    cb(err);
  }

  // http2 calls these on its socket; an fd socket has no Nagle or keep-alive to tune
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}
