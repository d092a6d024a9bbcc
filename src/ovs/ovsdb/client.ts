/**
 * An OVSDB client (RFC 7047 + the OVS extensions `monitor_cond`/`update2`): JSON-RPC 1.0 over a
 * unix or tcp stream socket, hand-written. It answers the server's `echo` probes, sends its own
 * when the session is idle (no answer ⇒ the session is dropped), and after a lost connection
 * reconnects with backoff and re-runs every live monitor, resyncing its replica (rows that went
 * away while disconnected are reported as deletes).
 *
 *   const db = await OvsdbClient.connect("unix:/var/run/openvswitch/db.sock");
 *   const m = await db.monitor("Open_vSwitch", { Interface: { columns: ["name", "ofport"] } });
 *   await db.transact("Open_vSwitch", [op.insert(...), ...]); // throws OvsdbTransactionError
 *   const p1 = await m.replica.waitFor(() => m.replica.find("Interface", (r) => r.name === "p1"));
 *   db.close();
 *
 * Requests made while disconnected fail at once with UNAVAILABLE; `waitConnected()` waits for
 * the next session.
 */
import type { Socket } from "node:net";
import { NsmError, status } from "../../core/errors.js";
import { type Logger, silentLogger } from "../../tools/log.js";
import { formatOvsTarget, openSocket, parseOvsTarget, type OvsTarget } from "../target.js";
import { OvsdbError, OvsdbTransactionError, requestErrorCode } from "./errors.js";
import { JsonSplitter } from "./jsonstream.js";
import type { Condition, OpResult, Operation } from "./ops.js";
import { Replica } from "./replica.js";
import { parseSchema, type DatabaseSchema } from "./values.js";

export interface OvsdbClientOptions {
  log?: Logger;
  /** per-request deadline in ms (default 10 000) */
  timeoutMs?: number;
  /** send an echo after this many ms without traffic; unanswered for as long again ⇒ reconnect. 0 = off (default 5 000) */
  keepaliveMs?: number;
  /** reconnect after a lost session (default true) */
  reconnect?: boolean;
  /** reconnect backoff, ms (default 50 → 2 000, doubling) */
  backoffMs?: { min: number; max: number };
  /** closes the client when aborted */
  signal?: AbortSignal;
}

export interface MonitorTable {
  /** default: every column */
  columns?: string[];
  /** rows to watch (monitor_cond only); default: all */
  where?: Condition[];
  select?: { initial?: boolean; insert?: boolean; delete?: boolean; modify?: boolean };
}

export interface MonitorOptions {
  /** use `monitor_cond`/`update2` (default true; OVS ≥ 2.6); false = RFC 7047 `monitor`/`update` */
  cond?: boolean;
  /** a replica to fill (several monitors may share one); default: a new one */
  replica?: Replica;
  signal?: AbortSignal;
}

export interface Monitor {
  readonly id: string;
  readonly db: string;
  readonly replica: Replica;
  /** `monitor_cancel`; the monitored tables leave the replica */
  cancel(): Promise<void>;
}

interface Pending { method: string; resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout; onReply?: (v: unknown) => void }
interface MonitorState { id: string; db: string; tables: Record<string, MonitorTable>; cond: boolean; replica: Replica }

type Event = "connected" | "disconnected" | "notification" | "echo";
type Listener = (arg?: unknown, arg2?: unknown) => void;

let clientSeq = 0;

export class OvsdbClient {
  readonly target: OvsTarget;
  private sock: Socket | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly monitors = new Map<string, MonitorState>();
  private readonly schemas = new Map<string, Promise<DatabaseSchema>>();
  private readonly listeners = new Map<Event, Set<Listener>>();
  private closed = false;
  private lastRx = Date.now();
  private echoOut: number | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoff: number;
  private monitorSeq = 0;
  private readonly tag = `c${++clientSeq}`;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly keepaliveMs: number;
  private readonly onAbort = (): void => this.close();

  private constructor(target: OvsTarget, private readonly o: OvsdbClientOptions) {
    this.target = target;
    this.log = (o.log ?? silentLogger).child({ ovsdb: formatOvsTarget(target) });
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.keepaliveMs = o.keepaliveMs ?? 5_000;
    this.backoff = o.backoffMs?.min ?? 50;
  }

  /** Opens the first session; rejects with UNAVAILABLE naming the target when it cannot. */
  static async connect(target: string | OvsTarget, o: OvsdbClientOptions = {}): Promise<OvsdbClient> {
    const c = new OvsdbClient(typeof target === "string" ? parseOvsTarget(target) : target, o);
    await c.open();
    o.signal?.addEventListener("abort", c.onAbort, { once: true });
    return c;
  }

  get isConnected(): boolean { return this.sock !== undefined; }

  /** `connected` (after every (re)connect and monitor resync), `disconnected` (err), `notification` (method, params), `echo` (the server probed us; answered). */
  on(ev: Event, fn: Listener): () => void {
    let s = this.listeners.get(ev);
    if (!s) this.listeners.set(ev, (s = new Set()));
    s.add(fn);
    return () => s!.delete(fn);
  }

  private emit(ev: Event, a?: unknown, b?: unknown): void {
    for (const fn of [...(this.listeners.get(ev) ?? [])]) {
      try { fn(a, b); } catch (e) { this.log.warn({ err: e }, `ovsdb ${ev} listener threw`); }
    }
  }

  /** Resolves when a session is up (at once if it is). */
  waitConnected(o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    if (this.sock) return Promise.resolve();
    if (this.closed) return Promise.reject(new OvsdbError(status.UNAVAILABLE, `ovsdb ${formatOvsTarget(this.target)}: client closed`));
    return new Promise((resolve, reject) => {
      const done = (): void => { off(); clearTimeout(timer); o.signal?.removeEventListener("abort", abort); };
      const off = this.on("connected", () => { done(); resolve(); });
      const abort = (): void => { done(); reject(NsmError.from(o.signal?.reason, o.signal)); };
      const timer = o.timeoutMs !== undefined
        ? setTimeout(() => { done(); reject(new OvsdbError(status.DEADLINE_EXCEEDED, `ovsdb ${formatOvsTarget(this.target)}: not reconnected within ${o.timeoutMs} ms`)); }, o.timeoutMs)
        : undefined;
      o.signal?.addEventListener("abort", abort, { once: true });
    });
  }

  private async open(): Promise<void> {
    const sock = await openSocket(this.target, { timeoutMs: this.timeoutMs, ...(this.o.signal ? { signal: this.o.signal } : {}) });
    if (this.closed) { sock.destroy(); return; }
    const split = new JsonSplitter((v) => this.onMessage(v as Record<string, unknown>));
    sock.on("data", (b: Buffer) => {
      this.lastRx = Date.now();
      try { split.push(b); } catch (e) {
        this.log.warn({ err: e }, "ovsdb: malformed JSON from server, dropping the session");
        sock.destroy(e as Error);
      }
    });
    sock.on("error", (e) => this.log.debug({ err: e }, "ovsdb socket error"));
    sock.on("close", () => this.onClose(sock));
    this.sock = sock;
    this.lastRx = Date.now();
    this.echoOut = undefined;
    this.startKeepalive();
    this.log.debug("ovsdb session up");
  }

  private onClose(sock: Socket): void {
    if (this.sock !== sock) return;
    this.sock = undefined;
    clearInterval(this.keepaliveTimer);
    const err = new OvsdbError(status.UNAVAILABLE, `ovsdb ${formatOvsTarget(this.target)}: connection lost`);
    for (const [id, p] of this.pending) { clearTimeout(p.timer); this.pending.delete(id); p.reject(new OvsdbError(status.UNAVAILABLE, `ovsdb ${p.method}: connection to ${formatOvsTarget(this.target)} lost`)); }
    if (this.closed) return;
    this.log.info("ovsdb connection lost");
    this.emit("disconnected", err);
    if (this.o.reconnect ?? true) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.o.backoffMs?.max ?? 2_000);
    this.reconnectTimer = setTimeout(() => void this.reconnect(), delay);
  }

  private async reconnect(): Promise<void> {
    if (this.closed) return;
    try {
      await this.open();
      if (this.closed) return;
      for (const m of this.monitors.values()) await this.startMonitor(m, true);
      this.backoff = this.o.backoffMs?.min ?? 50;
      this.log.info({ monitors: this.monitors.size }, "ovsdb reconnected, replica resynced");
      this.emit("connected");
    } catch (e) {
      if (this.closed) return;
      this.log.debug({ err: e }, "ovsdb reconnect failed");
      if (this.sock) { this.sock.destroy(); return; } // onClose reschedules
      this.scheduleReconnect();
    }
  }

  private startKeepalive(): void {
    clearInterval(this.keepaliveTimer);
    if (this.keepaliveMs <= 0) return;
    const tick = Math.max(10, Math.floor(this.keepaliveMs / 2));
    this.keepaliveTimer = setInterval(() => {
      const now = Date.now();
      if (this.echoOut !== undefined) {
        if (now - this.echoOut >= this.keepaliveMs) {
          this.log.warn({ ms: now - this.echoOut }, "ovsdb echo unanswered, dropping the session");
          this.sock?.destroy();
        }
        return;
      }
      if (now - this.lastRx >= this.keepaliveMs && this.sock) {
        this.echoOut = now;
        this.request("echo", ["keepalive"], { timeoutMs: this.keepaliveMs * 2 })
          .then(() => { this.echoOut = undefined; }, () => { /* onClose or the timer handles it */ });
      }
    }, tick);
    this.keepaliveTimer.unref();
  }

  private onMessage(m: Record<string, unknown>): void {
    if (typeof m.method === "string") {
      const params = m.params;
      if (m.id !== null && m.id !== undefined) {
        // a request from the server: only echo is defined for clients
        if (m.method === "echo") { this.write({ id: m.id, result: params, error: null }); this.emit("echo", params); }
        else this.write({ id: m.id, result: null, error: "unknown method" });
        return;
      }
      this.onNotification(m.method, params);
      return;
    }
    const id = m.id;
    if (typeof id !== "number") return;
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (m.error !== null && m.error !== undefined) {
      const e = m.error as string | { error?: string; details?: string; syntax?: string };
      const name = typeof e === "string" ? e : e.error ?? "error";
      const details = typeof e === "object" ? [e.details, e.syntax && `in ${e.syntax}`].filter(Boolean).join(" ") : "";
      p.reject(new OvsdbError(requestErrorCode(name), `ovsdb ${p.method}: ${name}${details ? `: ${details}` : ""}`));
    } else if (p.onReply) {
      // synchronously, before any notification that came in the same chunk is applied
      try { p.onReply(m.result); p.resolve(m.result); } catch (e) { p.reject(e as Error); }
    } else p.resolve(m.result);
  }

  private onNotification(method: string, params: unknown): void {
    if ((method === "update" || method === "update2") && Array.isArray(params)) {
      const m = this.monitors.get(String(params[0]));
      if (m) {
        try {
          if (method === "update") m.replica.applyUpdate(params[1] as never); else m.replica.applyUpdate2(params[1] as never);
        } catch (e) { this.log.warn({ err: e }, `ovsdb: could not apply ${method}`); }
      }
    }
    this.emit("notification", method, params);
  }

  private write(msg: unknown): void {
    this.sock?.write(JSON.stringify(msg));
  }

  /**
   * Sends one JSON-RPC request and resolves with its result. Rejects with OvsdbError: UNAVAILABLE
   * when disconnected or the session drops, DEADLINE_EXCEEDED after `timeoutMs`, the server's
   * error otherwise.
   */
  request(method: string, params: unknown[], o: { timeoutMs?: number; signal?: AbortSignal; onReply?: (v: unknown) => void } = {}): Promise<unknown> {
    if (!this.sock) {
      return Promise.reject(new OvsdbError(status.UNAVAILABLE, `ovsdb ${method}: ${this.closed ? "client closed" : `not connected to ${formatOvsTarget(this.target)}`}`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const ms = o.timeoutMs ?? this.timeoutMs;
      const cleanupAbort = (): void => o.signal?.removeEventListener("abort", onAbort);
      const onAbort = (): void => {
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id); clearTimeout(p.timer);
        reject(NsmError.from(o.signal?.reason ?? new Error("aborted"), o.signal));
      };
      const timer = setTimeout(() => {
        this.pending.delete(id); cleanupAbort();
        reject(new OvsdbError(status.DEADLINE_EXCEEDED, `ovsdb ${method}: no reply within ${ms} ms`));
      }, ms);
      this.pending.set(id, {
        method, timer,
        resolve: (v) => { cleanupAbort(); resolve(v); },
        reject: (e) => { cleanupAbort(); reject(e); },
        ...(o.onReply ? { onReply: o.onReply } : {}),
      });
      if (o.signal?.aborted) return onAbort();
      o.signal?.addEventListener("abort", onAbort, { once: true });
      this.write({ method, params, id });
    });
  }

  listDbs(): Promise<string[]> { return this.request("list_dbs", []) as Promise<string[]>; }

  /** The schema of `db`, normalised (cached per client). */
  getSchema(db: string): Promise<DatabaseSchema> {
    let s = this.schemas.get(db);
    if (!s) {
      s = this.request("get_schema", [db]).then(parseSchema);
      s.catch(() => this.schemas.delete(db));
      this.schemas.set(db, s);
    }
    return s;
  }

  echo(params: unknown[] = []): Promise<unknown> { return this.request("echo", params); }

  /**
   * Runs `ops` as one atomic transaction. Resolves with one result per op; if any op or the
   * commit failed, nothing was applied and it throws OvsdbTransactionError naming the op.
   */
  async transact(db: string, ops: readonly Operation[], o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<OpResult[]> {
    const results = await this.request("transact", [db, ...ops], o) as (OpResult | null)[];
    const bad = results.findIndex((r) => r !== null && r.error !== undefined && r.error !== null);
    if (bad >= 0) throw new OvsdbTransactionError(db, ops, results, bad);
    return results as OpResult[];
  }

  /**
   * Starts a monitor on `tables` of `db`; resolves once the replica holds the initial rows. The
   * monitor survives reconnects (re-run, replica resynced) until cancelled or the client closes.
   */
  async monitor(db: string, tables: Record<string, MonitorTable>, o: MonitorOptions = {}): Promise<Monitor> {
    const cond = o.cond ?? true;
    if (!cond && Object.values(tables).some((t) => t.where)) {
      throw new OvsdbError(status.INVALID_ARGUMENT, `ovsdb monitor ${db}: "where" needs monitor_cond (cond: true)`);
    }
    const schema = await this.getSchema(db);
    const replica = o.replica ?? new Replica(schema);
    for (const [t, mt] of Object.entries(tables)) {
      if (!schema.tables[t]) throw new OvsdbError(status.INVALID_ARGUMENT, `ovsdb monitor ${db}: no table "${t}" in the schema`);
      for (const c of mt.columns ?? []) {
        if (!schema.tables[t]!.columns[c]) throw new OvsdbError(status.INVALID_ARGUMENT, `ovsdb monitor ${db}: table "${t}" has no column "${c}"`);
      }
      replica.setColumns(t, mt.columns);
    }
    const m: MonitorState = { id: `${this.tag}m${++this.monitorSeq}`, db, tables, cond, replica };
    this.monitors.set(m.id, m);
    try {
      await this.startMonitor(m, false, o.signal);
    } catch (e) {
      this.monitors.delete(m.id);
      throw e;
    }
    return {
      id: m.id, db, replica,
      cancel: async () => {
        if (!this.monitors.delete(m.id)) return;
        replica.drop(Object.keys(tables));
        if (this.sock) await this.request("monitor_cancel", [m.id]);
      },
    };
  }

  private async startMonitor(m: MonitorState, resync: boolean, signal?: AbortSignal): Promise<void> {
    const req: Record<string, unknown> = {};
    for (const [t, mt] of Object.entries(m.tables)) {
      const r: Record<string, unknown> = {};
      if (mt.columns) r.columns = mt.columns;
      if (mt.select) r.select = mt.select;
      if (m.cond && mt.where) r.where = mt.where;
      req[t] = m.cond ? [r] : r;
    }
    // the reply comes before any notification for this monitor id; applied synchronously on
    // arrival, so the initial rows land before an update that shares its chunk
    const onReply = (result: unknown): void => {
      const apply = (): void => {
        if (m.cond) m.replica.applyUpdate2(result as never); else m.replica.applyUpdate(result as never);
      };
      if (resync) m.replica.resync(Object.keys(m.tables), apply); else apply();
    };
    await this.request(m.cond ? "monitor_cond" : "monitor", [m.db, m.id, req], { onReply, ...(signal ? { signal } : {}) });
  }

  /** Ends the session and every monitor; pending requests fail with UNAVAILABLE. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.o.signal?.removeEventListener("abort", this.onAbort);
    clearTimeout(this.reconnectTimer);
    clearInterval(this.keepaliveTimer);
    const s = this.sock;
    if (s) { s.destroy(); this.onClose(s); }
    this.monitors.clear();
    this.listeners.clear();
  }
}
