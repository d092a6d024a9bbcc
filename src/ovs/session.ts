/**
 * The session machinery shared by the OVSDB and OpenFlow clients: one stream socket to an OVS
 * target at a time, `on`/`emit` listeners, an idle keepalive (probe after `keepaliveMs` of
 * silence, drop the session when the probe stays unanswered as long again), re-dial with
 * doubling backoff after a lost session, and `close()` (also on the abort of `o.signal`).
 * A client subclasses it and brings its protocol: framing (`attach`'s onData), the probe, how
 * its pending requests fail, and what a (re)connect does after the socket is up.
 *
 *   class MyClient extends OvsSession<"message"> {
 *     private constructor(t: OvsTarget, o: OvsSessionOptions) { super("my", t, o, { reconnect: true }); }
 *     protected async open() { await this.attach((b) => this.parse(b)); this.startKeepalive(); this.emit("connected"); }
 *     protected probe() { return this.ping(); }
 *     protected failPending(err: Error) { ... }
 *     protected sessionError(msg: string) { return new NsmError(status.UNAVAILABLE, msg); }
 *   }
 */
import type { Socket } from "node:net";
import { type Logger, silentLogger } from "../tools/log.js";
import { formatOvsTarget, openSocket, type OvsTarget } from "./target.js";

export interface OvsSessionOptions {
  log?: Logger;
  /** per-request deadline and connect deadline, ms (default 10 000) */
  timeoutMs?: number;
  /** probe after this many ms of silence; unanswered as long again ⇒ drop the session. 0 = off (default 5 000) */
  keepaliveMs?: number;
  /** re-dial after a lost session (default: the client's) */
  reconnect?: boolean;
  /** reconnect backoff, ms (default 50 → 2 000, doubling) */
  backoffMs?: { min: number; max: number };
  /** closes the client when aborted */
  signal?: AbortSignal;
}

/** The events every session emits; a client adds its own. */
export type SessionEvent = "connected" | "disconnected";
export type SessionListener = (a?: unknown, b?: unknown) => void;

export abstract class OvsSession<E extends string> {
  readonly target: OvsTarget;
  protected sock: Socket | undefined;
  protected closed = false;
  protected readonly log: Logger;
  protected readonly timeoutMs: number;
  private readonly listeners = new Map<SessionEvent | E, Set<SessionListener>>();
  private readonly reconnects: boolean;
  private lastRx = Date.now();
  private echoOut: number | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoff: number;
  private readonly onAbort = (): void => this.close();

  /** `name` prefixes logs and messages ("ovsdb", "openflow"). */
  protected constructor(
    protected readonly name: string,
    target: OvsTarget,
    protected readonly o: OvsSessionOptions,
    defaults: { reconnect: boolean },
  ) {
    this.target = target;
    this.log = (o.log ?? silentLogger).child({ [name]: formatOvsTarget(target) });
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.backoff = o.backoffMs?.min ?? 50;
    this.reconnects = o.reconnect ?? defaults.reconnect;
  }

  /** Opens the first session, then closes the client when `o.signal` aborts. */
  protected async start(): Promise<this> {
    await this.open();
    this.o.signal?.addEventListener("abort", this.onAbort, { once: true });
    return this;
  }

  /** Brings a session up: `attach` a socket, then the protocol's handshake. Rejects when it cannot. */
  protected abstract open(): Promise<void>;
  /** A keepalive probe: resolves when the peer answered. */
  protected abstract probe(): Promise<unknown>;
  /** Fails every pending request: the session is gone (`err` names the target). */
  protected abstract failPending(err: Error): void;
  /** The client's error type for a lost/closed session (status UNAVAILABLE). */
  protected abstract sessionError(message: string): Error;
  /** What a re-dial does (default: `open()`); the backoff resets when it resolves. */
  protected reopen(): Promise<void> {
    return this.open();
  }

  get isConnected(): boolean {
    return this.sock !== undefined;
  }

  /** Adds a listener; returns its remover. */
  on(ev: SessionEvent | E, fn: SessionListener): () => void {
    let s = this.listeners.get(ev);
    if (!s) this.listeners.set(ev, (s = new Set()));
    s.add(fn);
    return () => s!.delete(fn);
  }

  protected emit(ev: SessionEvent | E, a?: unknown, b?: unknown): void {
    for (const fn of [...(this.listeners.get(ev) ?? [])]) {
      try {
        fn(a, b);
      } catch (e) {
        this.log.warn({ err: e }, `${this.name} ${ev} listener threw`);
      }
    }
  }

  /** Dials the target and makes the socket the session's: `onData` gets its bytes (rx time noted). */
  protected async attach(onData: (b: Buffer, sock: Socket) => void): Promise<Socket> {
    const sock = await openSocket(this.target, {
      timeoutMs: this.timeoutMs,
      ...(this.o.signal ? { signal: this.o.signal } : {}),
    });
    if (this.closed) {
      sock.destroy();
      throw this.sessionError(`${this.name} ${formatOvsTarget(this.target)}: client closed`);
    }
    sock.on("data", (b: Buffer) => {
      if (this.sock !== sock) return;
      this.lastRx = Date.now();
      onData(b, sock);
    });
    sock.on("error", (e) => this.log.debug({ err: e }, `${this.name} socket error`));
    sock.on("close", () => this.onClose(sock));
    this.sock = sock;
    this.lastRx = Date.now();
    this.echoOut = undefined;
    return sock;
  }

  /** Probes an idle session every keepaliveMs/2 (≥ 10 ms); an unanswered probe drops it. */
  protected startKeepalive(): void {
    clearInterval(this.keepaliveTimer);
    const ms = this.o.keepaliveMs ?? 5_000;
    if (ms <= 0) return;
    this.keepaliveTimer = setInterval(
      () => {
        const now = Date.now();
        if (this.echoOut !== undefined) {
          if (now - this.echoOut >= ms) {
            this.log.warn({ ms: now - this.echoOut }, `${this.name} echo unanswered, dropping the session`);
            this.sock?.destroy();
          }
          return;
        }
        if (now - this.lastRx >= ms && this.sock) {
          this.echoOut = now;
          this.probe().then(
            () => {
              this.echoOut = undefined;
            },
            () => {
              /* onClose or the timer handles it */
            },
          );
        }
      },
      Math.max(10, Math.floor(ms / 2)),
    );
    this.keepaliveTimer.unref();
  }

  private onClose(sock: Socket): void {
    if (this.sock !== sock) return;
    this.sock = undefined;
    clearInterval(this.keepaliveTimer);
    const err = this.sessionError(`${this.name} ${formatOvsTarget(this.target)}: connection lost`);
    this.failPending(err);
    if (this.closed) return;
    this.log.info(`${this.name} connection lost`);
    this.emit("disconnected", err);
    if (this.reconnects) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.o.backoffMs?.max ?? 2_000);
    this.reconnectTimer = setTimeout(() => {
      if (this.closed) return;
      this.reopen().then(
        () => {
          this.backoff = this.o.backoffMs?.min ?? 50;
        },
        (e) => {
          if (this.closed) return;
          this.log.debug({ err: e }, `${this.name} reconnect failed`);
          if (this.sock) {
            this.sock.destroy();
            return;
          } // onClose reschedules
          this.scheduleReconnect();
        },
      );
    }, delay);
  }

  /** Ends the session; pending requests fail with UNAVAILABLE. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.o.signal?.removeEventListener("abort", this.onAbort);
    clearTimeout(this.reconnectTimer);
    clearInterval(this.keepaliveTimer);
    const s = this.sock;
    if (s) {
      s.destroy();
      this.onClose(s);
    }
    this.listeners.clear();
  }
}
