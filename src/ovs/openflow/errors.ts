/** Errors of an OpenFlow session: the switch's ERROR messages (names decoded) and local failures. */
import { NsmError, status } from "../../tools/errors.js";
import type { FlowMod } from "./messages.js";
import { errorNames } from "./names.js";

/** A switch ERROR: type/code with names, the xid and request it answers, the data (≥ 64 bytes of the request). */
export class OpenFlowError extends NsmError {
  /** OpenFlow error type/code and their names (undefined for local failures: timeout, lost session) */
  readonly ofType: number | undefined;
  readonly ofCode: number | undefined;
  readonly typeName: string | undefined;
  readonly codeName: string | undefined;
  readonly xid: number | undefined;
  readonly data: Buffer | undefined;
  /** flowMods(): indexes of every failing flow-mod */
  failed?: number[];
  constructor(
    message: string,
    o: { code?: status; ofType?: number; ofCode?: number; xid?: number; data?: Buffer; cause?: unknown } = {},
  ) {
    super(
      o.code ?? (o.ofType !== undefined ? status.FAILED_PRECONDITION : status.UNAVAILABLE),
      message,
      o.cause !== undefined ? { cause: o.cause } : undefined,
    );
    this.name = "OpenFlowError";
    this.ofType = o.ofType;
    this.ofCode = o.ofCode;
    this.xid = o.xid;
    this.data = o.data;
    if (o.ofType !== undefined) [this.typeName, this.codeName] = errorNames(o.ofType, o.ofCode ?? 0);
    else {
      this.typeName = undefined;
      this.codeName = undefined;
    }
  }
}

/** A flow-mod as an error message names it: table, priority and match. */
export function describeFlowMod(fm: FlowMod): string {
  return JSON.stringify(
    {
      ...(fm.tableId !== undefined ? { table: fm.tableId } : {}),
      ...(fm.priority !== undefined ? { priority: fm.priority } : {}),
      ...fm.match,
    },
    (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v),
  );
}
