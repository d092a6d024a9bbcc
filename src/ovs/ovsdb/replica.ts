/**
 * A local copy of the monitored tables, kept current by monitor notifications and rebuilt after a
 * reconnect. Rows are decoded (see values.ts) and carry `_uuid`; a row object is never mutated,
 * a change replaces it, so a caller may keep one.
 *
 *   const ofport = await replica.waitFor(() => replica.find("Interface", (r) => r.name === "p1")?.ofport);
 */
import { NsmError, status } from "../../tools/errors.js";
import {
  applyDiff,
  decodeRow,
  defaultValue as defaultValueOf,
  type DatabaseSchema,
  type Row,
  type TableSchema,
} from "./values.js";

export interface RowChange {
  table: string;
  uuid: string;
  old?: Row;
  new?: Row;
}
export type ChangeListener = (changes: readonly RowChange[]) => void;

export class Replica {
  private readonly tables = new Map<string, Map<string, Row>>();
  private readonly listeners = new Set<ChangeListener>();

  constructor(readonly schema: DatabaseSchema) {}

  /** Rows of `table` (empty when not monitored). */
  rows(table: string): Row[] {
    return [...(this.tables.get(table)?.values() ?? [])];
  }
  get(table: string, uuid: string): Row | undefined {
    return this.tables.get(table)?.get(uuid);
  }
  find(table: string, pred: (r: Row) => boolean): Row | undefined {
    for (const r of this.tables.get(table)?.values() ?? []) if (pred(r)) return r;
    return undefined;
  }

  /** Calls `fn` with each batch of changes (one notification, or one resync); returns an unsubscribe. */
  onChange(fn: ChangeListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Resolves with the first value of `probe()` that is not undefined, checked now and after every
   * change. Rejects on abort or after `timeoutMs` (DEADLINE_EXCEEDED naming `what`), or when
   * `probe` throws.
   */
  waitFor<T>(
    probe: () => T | undefined,
    o: { signal?: AbortSignal; timeoutMs?: number; what?: string } = {},
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let off = (): void => {};
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        off();
        clearTimeout(timer);
        o.signal?.removeEventListener("abort", onAbort);
      };
      const check = (): void => {
        try {
          const v = probe();
          if (v !== undefined) {
            done();
            resolve(v);
          }
        } catch (e) {
          done();
          reject(e);
        }
      };
      const onAbort = (): void => {
        done();
        reject(NsmError.from(o.signal?.reason ?? new Error("aborted"), o.signal));
      };
      if (o.signal?.aborted) return onAbort();
      check();
      off = this.onChange(check);
      o.signal?.addEventListener("abort", onAbort, { once: true });
      if (o.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          done();
          reject(
            new NsmError(
              status.DEADLINE_EXCEEDED,
              `ovsdb: ${o.what ?? "condition"} not reached within ${o.timeoutMs} ms`,
            ),
          );
        }, o.timeoutMs);
      }
    });
  }

  private table(name: string): { rows: Map<string, Row>; schema: TableSchema } {
    const schema = this.schema.tables[name];
    if (!schema)
      throw new NsmError(status.INTERNAL, `ovsdb replica: table "${name}" is not in schema ${this.schema.name}`);
    let rows = this.tables.get(name);
    if (!rows) {
      rows = new Map();
      this.tables.set(name, rows);
    }
    return { rows, schema };
  }

  private emit(changes: RowChange[]): void {
    if (changes.length === 0) return;
    for (const fn of [...this.listeners]) fn(changes);
  }

  /** Applies a `monitor` result or `update` notification: `{T:{uuid:{old?,new?}}}`. */
  applyUpdate(
    u: Record<string, Record<string, { old?: Record<string, unknown>; new?: Record<string, unknown> }>>,
  ): void {
    const changes: RowChange[] = [];
    for (const [tn, rows] of Object.entries(u)) {
      const t = this.table(tn);
      for (const [id, ru] of Object.entries(rows)) {
        const old = t.rows.get(id);
        if (ru.new) {
          const row = { ...(old ?? {}), ...decodeRow(ru.new, t.schema), _uuid: id };
          t.rows.set(id, row);
          changes.push(old ? { table: tn, uuid: id, old, new: row } : { table: tn, uuid: id, new: row });
        } else if (old) {
          t.rows.delete(id);
          changes.push({ table: tn, uuid: id, old });
        }
      }
    }
    this.emit(changes);
  }

  /** Applies a `monitor_cond` result or `update2` notification: initial/insert/modify/delete. */
  applyUpdate2(
    u: Record<
      string,
      Record<
        string,
        {
          initial?: Record<string, unknown>;
          insert?: Record<string, unknown>;
          modify?: Record<string, unknown>;
          delete?: null;
        }
      >
    >,
  ): void {
    const changes: RowChange[] = [];
    for (const [tn, rows] of Object.entries(u)) {
      const t = this.table(tn);
      for (const [id, ru] of Object.entries(rows)) {
        const old = t.rows.get(id);
        const full = ru.initial ?? ru.insert;
        if (full) {
          const row = { ...this.defaults(t.schema), ...decodeRow(full, t.schema), _uuid: id };
          t.rows.set(id, row);
          changes.push(old ? { table: tn, uuid: id, old, new: row } : { table: tn, uuid: id, new: row });
        } else if (ru.modify) {
          const row: Row = { ...(old ?? { ...this.defaults(t.schema), _uuid: id }) };
          for (const [c, diff] of Object.entries(ru.modify)) {
            const col = t.schema.columns[c];
            row[c] = col ? applyDiff(row[c], diff, col.type) : (diff as Row[string]);
          }
          t.rows.set(id, row);
          changes.push(old ? { table: tn, uuid: id, old, new: row } : { table: tn, uuid: id, new: row });
        } else if ("delete" in ru && old) {
          t.rows.delete(id);
          changes.push({ table: tn, uuid: id, old });
        }
      }
    }
    this.emit(changes);
  }

  /**
   * Replaces the contents of `tables` with a fresh initial state (after a reconnect) and reports
   * the difference as changes: rows gone are deletes, the rest inserts or modifies.
   */
  resync(tables: readonly string[], initial: () => void): void {
    const before = new Map<string, Map<string, Row>>();
    for (const tn of tables) {
      before.set(tn, this.tables.get(tn) ?? new Map());
      this.tables.set(tn, new Map());
    }
    const silenced = [...this.listeners];
    this.listeners.clear();
    try {
      initial();
    } finally {
      for (const l of silenced) this.listeners.add(l);
    }
    const changes: RowChange[] = [];
    for (const tn of tables) {
      const now = this.tables.get(tn) ?? new Map<string, Row>();
      const old = before.get(tn)!;
      for (const [id, row] of old) if (!now.has(id)) changes.push({ table: tn, uuid: id, old: row });
      for (const [id, row] of now) {
        const o = old.get(id);
        if (!o) changes.push({ table: tn, uuid: id, new: row });
        else if (JSON.stringify(o) !== JSON.stringify(row)) changes.push({ table: tn, uuid: id, old: o, new: row });
      }
    }
    this.emit(changes);
  }

  /** Drops `tables` (monitor cancelled). */
  drop(tables: readonly string[]): void {
    for (const t of tables) this.tables.delete(t);
  }

  private readonly defaultRows = new Map<TableSchema, Row>();
  private readonly monitored = new Map<TableSchema, readonly string[] | undefined>();

  /** Which columns of `table` are monitored (undefined = all): `monitor_cond` rows leave out defaults. */
  setColumns(table: string, columns: readonly string[] | undefined): void {
    const t = this.table(table).schema;
    this.monitored.set(t, columns);
    this.defaultRows.delete(t);
  }

  private defaults(t: TableSchema): Row {
    let d = this.defaultRows.get(t);
    if (!d) {
      d = {};
      const cols = this.monitored.get(t) ?? Object.keys(t.columns);
      for (const c of cols) {
        const col = t.columns[c];
        if (col && c[0] !== "_") d[c] = defaultValueOf(col.type);
      }
      this.defaultRows.set(t, d);
    }
    return d;
  }
}
