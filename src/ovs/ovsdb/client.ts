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
import { NsmError, status } from "../../tools/errors.js";
import { OvsSession, type OvsSessionOptions } from "../session.js";
import { formatOvsTarget, parseOvsTarget, type OvsTarget } from "../target.js";
import { OvsdbError, OvsdbTransactionError, requestErrorCode } from "./errors.js";
import { JsonSplitter } from "./jsonstream.js";
import type { Condition, OpResult, Operation } from "./ops.js";
import { Replica } from "./replica.js";
import { parseSchema, type DatabaseSchema } from "./values.js";

/** The keepalive probe is an `echo` request. */
export interface OvsdbClientOptions extends OvsSessionOptions {
  /** reconnect after a lost session (default true) */
  reconnect?: boolean;
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

interface Pending {
  method: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
  onReply?: (v: unknown) => void;
}
interface MonitorState {
  id: string;
  db: string;
  tables: Record<string, MonitorTable>;
  cond: boolean;
  replica: Replica;
}

let clientSeq = 0;

/**
 * Events (`on`): `connected` (after every reconnect and monitor resync), `disconnected` (err),
 * `notification` (method, params), `echo` (the server probed us; answered). Session handling:
 * src/ovs/session.ts.
 */
export class OvsdbClient extends OvsSession<"notification" | "echo"> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly monitors = new Map<string, MonitorState>();
  private readonly schemas = new Map<string, Promise<DatabaseSchema>>();
  private monitorSeq = 0;
  private readonly tag = `c${++clientSeq}`;

  private constructor(target: OvsTarget, o: OvsdbClientOptions) {
    super("ovsdb", target, o, { reconnect: true });
  }

  /** Opens the first session; rejects with UNAVAILABLE naming the target when it cannot. */
  static async connect(target: string | OvsTarget, o: OvsdbClientOptions = {}): Promise<OvsdbClient> {
    return new OvsdbClient(typeof target === "string" ? parseOvsTarget(target) : target, o).start();
  }

  /** Resolves when a session is up (at once if it is). */
  waitConnected(o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    if (this.sock) return Promise.resolve();
    if (this.closed)
      return Promise.reject(new OvsdbError(status.UNAVAILABLE, `ovsdb ${formatOvsTarget(this.target)}: client closed`));
    return new Promise((resolve, reject) => {
      const done = (): void => {
        off();
        clearTimeout(timer);
        o.signal?.removeEventListener("abort", abort);
      };
      const off = this.on("connected", () => {
        done();
        resolve();
      });
      const abort = (): void => {
        done();
        reject(NsmError.from(o.signal?.reason, o.signal));
      };
      const timer =
        o.timeoutMs !== undefined
          ? setTimeout(() => {
              done();
              reject(
                new OvsdbError(
                  status.DEADLINE_EXCEEDED,
                  `ovsdb ${formatOvsTarget(this.target)}: not reconnected within ${o.timeoutMs} ms`,
                ),
              );
            }, o.timeoutMs)
          : undefined;
      o.signal?.addEventListener("abort", abort, { once: true });
    });
  }

  protected async open(): Promise<void> {
    const split = new JsonSplitter((v) => this.onMessage(v as Record<string, unknown>));
    await this.attach((b, sock) => {
      try {
        split.push(b);
      } catch (e) {
        this.log.warn({ err: e }, "ovsdb: malformed JSON from server, dropping the session");
        sock.destroy(e as Error);
      }
    });
    this.startKeepalive();
    this.log.debug("ovsdb session up");
  }

  /** A re-dial: the session, then every live monitor re-run (replica resynced), then `connected`. */
  protected override async reopen(): Promise<void> {
    await this.open();
    if (this.closed) return;
    for (const m of this.monitors.values()) await this.startMonitor(m, true);
    this.log.info({ monitors: this.monitors.size }, "ovsdb reconnected, replica resynced");
    this.emit("connected");
  }

  protected probe(): Promise<unknown> {
    return this.request("echo", ["keepalive"], { timeoutMs: (this.o.keepaliveMs ?? 5_000) * 2 });
  }

  protected failPending(): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(
        new OvsdbError(status.UNAVAILABLE, `ovsdb ${p.method}: connection to ${formatOvsTarget(this.target)} lost`),
      );
    }
  }

  protected sessionError(message: string): OvsdbError {
    return new OvsdbError(status.UNAVAILABLE, message);
  }

  private onMessage(m: Record<string, unknown>): void {
    if (typeof m.method === "string") {
      const params = m.params;
      if (m.id !== null && m.id !== undefined) {
        // a request from the server: only echo is defined for clients
        if (m.method === "echo") {
          this.write({ id: m.id, result: params, error: null });
          this.emit("echo", params);
        } else this.write({ id: m.id, result: null, error: "unknown method" });
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
      const name = typeof e === "string" ? e : (e.error ?? "error");
      const details = typeof e === "object" ? [e.details, e.syntax && `in ${e.syntax}`].filter(Boolean).join(" ") : "";
      p.reject(new OvsdbError(requestErrorCode(name), `ovsdb ${p.method}: ${name}${details ? `: ${details}` : ""}`));
    } else if (p.onReply) {
      // synchronously, before any notification that came in the same chunk is applied
      try {
        p.onReply(m.result);
        p.resolve(m.result);
      } catch (e) {
        p.reject(e as Error);
      }
    } else p.resolve(m.result);
  }

  private onNotification(method: string, params: unknown): void {
    if ((method === "update" || method === "update2") && Array.isArray(params)) {
      const m = this.monitors.get(String(params[0]));
      if (m) {
        try {
          if (method === "update") m.replica.applyUpdate(params[1] as never);
          else m.replica.applyUpdate2(params[1] as never);
        } catch (e) {
          this.log.warn({ err: e }, `ovsdb: could not apply ${method}`);
        }
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
  request(
    method: string,
    params: unknown[],
    o: { timeoutMs?: number; signal?: AbortSignal; onReply?: (v: unknown) => void } = {},
  ): Promise<unknown> {
    if (!this.sock) {
      return Promise.reject(
        new OvsdbError(
          status.UNAVAILABLE,
          `ovsdb ${method}: ${this.closed ? "client closed" : `not connected to ${formatOvsTarget(this.target)}`}`,
        ),
      );
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const ms = o.timeoutMs ?? this.timeoutMs;
      const cleanupAbort = (): void => o.signal?.removeEventListener("abort", onAbort);
      const onAbort = (): void => {
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        clearTimeout(p.timer);
        reject(NsmError.from(o.signal?.reason ?? new Error("aborted"), o.signal));
      };
      const timer = setTimeout(() => {
        this.pending.delete(id);
        cleanupAbort();
        reject(new OvsdbError(status.DEADLINE_EXCEEDED, `ovsdb ${method}: no reply within ${ms} ms`));
      }, ms);
      this.pending.set(id, {
        method,
        timer,
        resolve: (v) => {
          cleanupAbort();
          resolve(v);
        },
        reject: (e) => {
          cleanupAbort();
          reject(e);
        },
        ...(o.onReply ? { onReply: o.onReply } : {}),
      });
      if (o.signal?.aborted) return onAbort();
      o.signal?.addEventListener("abort", onAbort, { once: true });
      this.write({ method, params, id });
    });
  }

  listDbs(): Promise<string[]> {
    return this.request("list_dbs", []) as Promise<string[]>;
  }

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

  echo(params: unknown[] = []): Promise<unknown> {
    return this.request("echo", params);
  }

  /**
   * Runs `ops` as one atomic transaction. Resolves with one result per op; if any op or the
   * commit failed, nothing was applied and it throws OvsdbTransactionError naming the op.
   */
  async transact(
    db: string,
    ops: readonly Operation[],
    o: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<OpResult[]> {
    const results = (await this.request("transact", [db, ...ops], o)) as (OpResult | null)[];
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
      if (!schema.tables[t])
        throw new OvsdbError(status.INVALID_ARGUMENT, `ovsdb monitor ${db}: no table "${t}" in the schema`);
      for (const c of mt.columns ?? []) {
        if (!schema.tables[t]!.columns[c])
          throw new OvsdbError(status.INVALID_ARGUMENT, `ovsdb monitor ${db}: table "${t}" has no column "${c}"`);
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
      id: m.id,
      db,
      replica,
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
        if (m.cond) m.replica.applyUpdate2(result as never);
        else m.replica.applyUpdate(result as never);
      };
      if (resync) m.replica.resync(Object.keys(m.tables), apply);
      else apply();
    };
    await this.request(m.cond ? "monitor_cond" : "monitor", [m.db, m.id, req], {
      onReply,
      ...(signal ? { signal } : {}),
    });
  }

  /** Ends the session and every monitor; pending requests fail with UNAVAILABLE. Idempotent. */
  override close(): void {
    super.close();
    this.monitors.clear();
  }
}
