/** {@link MemifPort}: one memif interface over the addon (see memif.ts). */
import { EventEmitter } from "node:events";
import { DatapathError } from "./errors.js";
import { memifNative, type MemifNativeConfig, type MemifNativeEvent, type MemifPortStats } from "../native/memif.js";
import {
  nativeConfig,
  wrap,
  type Connectable,
  type MemifEvents,
  type MemifLink,
  type MemifOptions,
  type WaitOptions,
} from "./memif-common.js";

/**
 * One memif interface. Emits "up"/"down" as peers come and go; a client reconnects by itself and
 * a server accepts the next client. `close()` is idempotent and releases every fd and mapping.
 */
export class MemifPort extends EventEmitter<MemifEvents> implements Connectable {
  readonly handle: number;
  readonly role: "server" | "client";
  readonly socket: string;
  #closed = false;
  #up = false;
  #link: MemifLink | undefined;
  #joined = false;

  private constructor(cfg: MemifNativeConfig) {
    super();
    this.role = cfg.role === "master" ? "server" : "client";
    this.socket = cfg.socket;
    try {
      this.handle = memifNative.open(cfg, (e) => this.#onEvent(e));
    } catch (e) {
      throw wrap(e, `memif ${this.role} open`, cfg.socket);
    }
  }

  /** Opens a port. A server listens at once (throws EADDRINUSE etc. here); a client connects in the background. */
  static open(o: MemifOptions): MemifPort {
    return new MemifPort(nativeConfig(o));
  }

  get closed(): boolean {
    return this.#closed;
  }
  /** True while the link is up. */
  get up(): boolean {
    return this.#up;
  }
  /** The current link, while up. */
  get link(): MemifLink | undefined {
    return this.#link;
  }

  #onEvent(e: MemifNativeEvent): void {
    if (this.#closed) return;
    if (e.type === "up") {
      this.#up = true;
      this.#link = {
        peerName: e.peerName,
        peerIfName: e.peerIfName,
        ringSize: e.ringSize,
        bufferSize: e.bufferSize,
        regions: e.regions,
      };
      this.emit("up", this.#link);
    } else if (e.type === "down") {
      if (e.wasUp) {
        this.#up = false;
        this.#link = undefined;
        this.emit("down", e.reason);
      } else {
        this.emit("fail", e.reason);
      }
    } else {
      this.emit("rx");
    }
  }

  #check(op: string): void {
    if (this.#closed)
      throw new DatapathError(`memif ${op} on ${this.socket}: port is closed`, {
        code: "EBADF",
        errno: 9,
        syscall: op,
        path: this.socket,
      });
    if (this.#joined)
      throw new DatapathError(`memif ${op} on ${this.socket}: port is joined to another port (joinPorts)`, {
        code: "EBUSY",
        errno: 16,
        syscall: op,
        path: this.socket,
      });
  }

  /** Copies packets into the tx ring; returns how many fit (0 while down). Never blocks. */
  send(packets: readonly Uint8Array[]): number {
    this.#check("send");
    return memifNative.send(this.handle, packets);
  }

  /** Copies up to `max` waiting packets out of the rx ring (possibly none). Never blocks. */
  recv(max = 256): Buffer[] {
    this.#check("recv");
    return memifNative.recv(this.handle, max);
  }

  /**
   * Collects `count` packets: woken by "rx" in interrupt mode, polling every millisecond in
   * polling mode. Resolves with what arrived by the deadline if `partial`, else rejects ETIMEDOUT.
   */
  async receive(count: number, o: WaitOptions & { partial?: boolean } = {}): Promise<Buffer[]> {
    this.#check("receive");
    const out: Buffer[] = [];
    const deadline = Date.now() + (o.timeoutMs ?? 5000);
    while (out.length < count) {
      out.push(...this.recv(count - out.length));
      if (out.length >= count) break;
      const left = deadline - Date.now();
      if (left <= 0 || o.signal?.aborted) {
        if (o.partial) return out;
        throw new DatapathError(
          `memif receive on ${this.socket}: ${out.length}/${count} packets after ${o.timeoutMs ?? 5000} ms`,
          { code: "ETIMEDOUT", errno: 110, syscall: "receive", path: this.socket },
        );
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.off("rx", done);
          o.signal?.removeEventListener("abort", done);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 2));
        this.once("rx", done);
        o.signal?.addEventListener("abort", done, { once: true });
      });
      if (this.#closed)
        throw new DatapathError(`memif receive on ${this.socket}: port closed`, {
          code: "EBADF",
          errno: 9,
          syscall: "receive",
          path: this.socket,
        });
    }
    return out;
  }

  /** Resolves with the link once it is up (at once if it is). */
  waitUp(o: WaitOptions = {}): Promise<MemifLink> {
    if (this.#up && this.#link) return Promise.resolve(this.#link);
    return this.#wait("up", o).then(() => this.#link!);
  }

  /** Resolves with the reason once the link goes down (at once if it is down). */
  waitDown(o: WaitOptions = {}): Promise<string> {
    if (!this.#up) return Promise.resolve(this.info().lastReason);
    return this.#wait("down", o).then(() => this.info().lastReason);
  }

  #wait(ev: "up" | "down", o: WaitOptions): Promise<void> {
    const ms = o.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(t);
        this.off(ev, ok);
        o.signal?.removeEventListener("abort", abort);
      };
      const ok = (): void => {
        cleanup();
        resolve();
      };
      const abort = (): void => {
        cleanup();
        reject(o.signal?.reason ?? new Error("aborted"));
      };
      const t = setTimeout(() => {
        cleanup();
        const why = this.#closed ? "port closed" : this.info().lastReason;
        reject(
          new DatapathError(
            `memif ${this.role} ${this.socket}: not ${ev} after ${ms} ms${why ? ` (last: ${why})` : ""}`,
            { code: "ETIMEDOUT", errno: 110, syscall: `wait ${ev}`, path: this.socket },
          ),
        );
      }, ms);
      this.on(ev, ok);
      o.signal?.addEventListener("abort", abort, { once: true });
    });
  }

  /** Counters since open (all connections). */
  stats(): MemifPortStats {
    if (this.#closed)
      throw new DatapathError(`memif stats on ${this.socket}: port is closed`, {
        code: "EBADF",
        errno: 9,
        syscall: "stats",
        path: this.socket,
      });
    return memifNative.stats(this.handle);
  }

  /** Link state as the control thread sees it, with the last disconnect/refusal reason. */
  info(): {
    up: boolean;
    lastReason: string;
    peerName: string;
    peerIfName: string;
    ringSize: number;
    bufferSize: number;
    regions: number;
  } {
    if (this.#closed)
      return { up: false, lastReason: "closed", peerName: "", peerIfName: "", ringSize: 0, bufferSize: 0, regions: 0 };
    return memifNative.info(this.handle);
  }

  /** Lets the process exit while this port is open (like net.Socket.unref). */
  unref(): this {
    if (!this.#closed) memifNative.unref(this.handle, true);
    return this;
  }

  /** @internal used by joinPorts */
  _setJoined(v: boolean): void {
    this.#joined = v;
  }

  /** Sends DISCONNECT if up, unmaps, closes every fd, stops a cross-connect using it. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const wasUp = this.#up;
    this.#up = false;
    memifNative.close(this.handle);
    if (wasUp) this.emit("down", "closed");
    this.removeAllListeners("rx");
  }
}
