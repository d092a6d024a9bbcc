/**
 * Persistent gRPC channels shared by every connection of a process: one channel per next-hop
 * URL, reference counted, kept open for `idleMs` after the last user so a new connection to
 * the same NSE/forwarder/nsmgr costs no handshake.
 */
import { dial, type DialOptions, type GrpcConn } from "../../../core/index.js";
import type { ClientConn } from "../../utils/keys.js";

export interface PooledConn extends ClientConn {
  readonly url: string;
  readonly grpc: GrpcConn;
}

interface Entry {
  conn: PooledConn;
  refs: number;
  idle?: NodeJS.Timeout;
  evicted: boolean;
}

export class ChannelPool {
  private readonly live = new Map<string, Entry>();
  private readonly all = new Map<PooledConn, Entry>();
  private closed = false;
  constructor(private readonly o: DialOptions & { idleMs?: number } = {}) {}

  /** A channel to `url`, counted until `release`. */
  acquire(url: string): PooledConn {
    if (this.closed) throw new Error("channel pool is closed");
    let e = this.live.get(url);
    if (!e) {
      // a local subchannel pool: after eviction the new channel connects at once instead of sharing
      // the failing subchannel (and its reconnect back-off) grpc-js keeps per address globally
      const grpc = dial(url, {
        ...this.o,
        channelOptions: { "grpc.use_local_subchannel_pool": 1, ...this.o.channelOptions },
      });
      const conn: PooledConn = {
        url,
        grpc,
        networkService: grpc.networkService,
        monitor: grpc.monitor,
        ...(grpc.fds ? { fds: grpc.fds } : {}),
        ...(grpc.secure
          ? {
              tls: {
                peerId: () => grpc.peerId(),
                presentedSerial: () => grpc.presentedSerial(),
                peerCertificate: () => grpc.peerCertificate(),
                waitReady: (ms?: number) => grpc.waitReady(ms),
              },
            }
          : {}),
      };
      e = { conn, refs: 0, evicted: false };
      this.live.set(url, e);
      this.all.set(conn, e);
    }
    if (e.idle) {
      clearTimeout(e.idle);
      e.idle = undefined;
    }
    e.refs++;
    return e.conn;
  }

  release(conn: PooledConn): void {
    const e = this.all.get(conn);
    if (!e) return;
    e.refs = Math.max(0, e.refs - 1);
    if (e.refs > 0) return;
    if (e.evicted) return this.drop(e);
    e.idle = setTimeout(() => this.drop(e), this.o.idleMs ?? 30_000);
    e.idle.unref();
  }

  /** The channel looks broken: later `acquire`s get a fresh one (connects at once, no reconnect back-off). */
  evict(conn: PooledConn): void {
    const e = this.all.get(conn);
    if (!e || e.evicted) return;
    e.evicted = true;
    if (this.live.get(conn.url) === e) this.live.delete(conn.url);
    if (e.refs === 0) this.drop(e);
  }

  /** False once `conn` was evicted or closed. */
  isLive(conn: PooledConn): boolean {
    return this.live.get(conn.url)?.conn === conn;
  }

  get size(): number {
    return this.all.size;
  }

  private drop(e: Entry): void {
    if (e.idle) clearTimeout(e.idle);
    this.all.delete(e.conn);
    if (this.live.get(e.conn.url) === e) this.live.delete(e.conn.url);
    e.conn.grpc.close();
  }

  close(): void {
    this.closed = true;
    for (const e of [...this.all.values()]) this.drop(e);
  }
}
