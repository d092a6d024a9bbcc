/**
 * OVSDB errors. Both are NsmErrors, so a chain element can let them through unchanged:
 * - `OvsdbError`: the request failed as a whole (connection lost, unknown database, unknown method).
 * - `OvsdbTransactionError`: one operation of a transact failed, or the commit did; it names the
 *   operation (index, op, table), the OVSDB error string, the column when the details name one,
 *   and the details. Nothing of the transaction was applied (OVSDB transactions are atomic).
 */
import { NsmError, status } from "../../tools/errors.js";
import type { OpResult, Operation } from "./ops.js";

export class OvsdbError extends NsmError {
  constructor(code: status, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "OvsdbError";
  }
}

const CODES: Record<string, status> = {
  "constraint violation": status.FAILED_PRECONDITION,
  "referential integrity violation": status.FAILED_PRECONDITION,
  "resources exhausted": status.RESOURCE_EXHAUSTED,
  "I/O error": status.INTERNAL,
  "duplicate uuid-name": status.INVALID_ARGUMENT,
  "domain error": status.INVALID_ARGUMENT,
  "range error": status.INVALID_ARGUMENT,
  "timed out": status.ABORTED,
  "not supported": status.UNIMPLEMENTED,
  aborted: status.ABORTED,
  "not owner": status.PERMISSION_DENIED,
  "syntax error": status.INVALID_ARGUMENT,
  "unknown column": status.INVALID_ARGUMENT,
  "unknown table": status.INVALID_ARGUMENT,
  "unknown operator": status.INVALID_ARGUMENT,
  "unknown database": status.NOT_FOUND,
};

export class OvsdbTransactionError extends OvsdbError {
  /** index of the failing op; `ops.length` when the commit itself failed */
  readonly index: number;
  /** the failing op's name ("insert", …) or "commit" */
  readonly op: string;
  readonly table: string | undefined;
  /** the column named by the details, when it names one */
  readonly column: string | undefined;
  /** OVSDB's error string ("constraint violation", …) */
  readonly error: string;
  readonly details: string | undefined;
  readonly results: readonly (OpResult | null)[];

  constructor(db: string, ops: readonly Operation[], results: readonly (OpResult | null)[], index: number) {
    const r = results[index]!;
    const o = ops[index];
    const opName = o ? o.op : "commit";
    const table = o && "table" in o ? o.table : tableFromDetails(r.details);
    const column = columnFromDetails(r.details, r.syntax);
    const where = o
      ? `op ${index + 1}/${ops.length} ${opName}${table ? ` on ${table}` : ""}`
      : `commit of ${ops.length} op(s)${table ? ` (table ${table})` : ""}`;
    const msg = `ovsdb transact ${db}: ${where}: ${r.error}${column ? ` (column "${column}")` : ""}${r.details ? `: ${r.details}` : ""}${r.syntax ? ` in ${r.syntax}` : ""}`;
    super(CODES[r.error ?? ""] ?? status.UNKNOWN, msg);
    this.name = "OvsdbTransactionError";
    this.index = index;
    this.op = opName;
    this.table = table;
    this.column = column;
    this.error = r.error ?? "unknown error";
    this.details = r.details;
    this.results = results;
  }
}

function tableFromDetails(d: string | undefined): string | undefined {
  return d ? (/"([A-Za-z_]\w*)" table/.exec(d)?.[1] ?? /in table ([A-Za-z_]\w*)/.exec(d)?.[1]) : undefined;
}

function columnFromDetails(d: string | undefined, syntax: string | undefined): string | undefined {
  const text = `${d ?? ""} ${syntax ?? ""}`;
  return (
    /column "?([A-Za-z_]\w*)"?/.exec(text)?.[1] ??
    /No column ([A-Za-z_]\w*)/i.exec(text)?.[1] ??
    /unknown column ([A-Za-z_]\w*)/i.exec(text)?.[1]
  );
}

/** Code for a request-level error (`{"error": "unknown database", …}` or a bare string). */
export function requestErrorCode(e: string): status {
  return CODES[e] ?? status.UNKNOWN;
}
