/**
 * Transact operations (RFC 7047 section 5.2) and their results, as sent on the wire. Builders keep the
 * call sites short:
 *
 *   await db.transact("Open_vSwitch", [
 *     op.insert("Interface", { name: "p1" }, "i"),
 *     op.insert("Port", { name: "p1", interfaces: namedUuid("i") }, "p"),
 *     op.mutate("Bridge", [["name", "==", "br0"]], [["ports", "insert", set([namedUuid("p")])]]),
 *   ]);
 */
import type { WireRow, WireValue } from "./values.js";

export type Condition = [
  column: string,
  fn: "==" | "!=" | "<" | "<=" | ">" | ">=" | "includes" | "excludes",
  value: WireValue,
];
export type Mutation = [
  column: string,
  mutator: "+=" | "-=" | "*=" | "/=" | "%=" | "insert" | "delete",
  value: WireValue,
];

export type Operation =
  | { op: "insert"; table: string; row: WireRow; "uuid-name"?: string }
  | { op: "select"; table: string; where: Condition[]; columns?: string[] }
  | { op: "update"; table: string; where: Condition[]; row: WireRow }
  | { op: "mutate"; table: string; where: Condition[]; mutations: Mutation[] }
  | { op: "delete"; table: string; where: Condition[] }
  | {
      op: "wait";
      table: string;
      where: Condition[];
      columns: string[];
      until: "==" | "!=";
      rows: WireRow[];
      timeout?: number;
    }
  | { op: "commit"; durable: boolean }
  | { op: "abort" }
  | { op: "comment"; comment: string }
  | { op: "assert"; lock: string };

/** One result per operation; which member is set depends on the op. */
export interface OpResult {
  uuid?: ["uuid", string];
  rows?: Record<string, unknown>[];
  count?: number;
  error?: string;
  details?: string;
  syntax?: string;
}

export const op = {
  insert: (table: string, row: WireRow, uuidName?: string): Operation =>
    uuidName === undefined ? { op: "insert", table, row } : { op: "insert", table, row, "uuid-name": uuidName },
  select: (table: string, where: Condition[] = [], columns?: string[]): Operation =>
    columns === undefined ? { op: "select", table, where } : { op: "select", table, where, columns },
  update: (table: string, where: Condition[], row: WireRow): Operation => ({ op: "update", table, where, row }),
  mutate: (table: string, where: Condition[], mutations: Mutation[]): Operation => ({
    op: "mutate",
    table,
    where,
    mutations,
  }),
  delete: (table: string, where: Condition[]): Operation => ({ op: "delete", table, where }),
  /** `timeout` in ms; 0 fails at once (`timed out`) when the condition does not hold. */
  wait: (
    table: string,
    where: Condition[],
    columns: string[],
    until: "==" | "!=",
    rows: WireRow[],
    timeout = 0,
  ): Operation => ({ op: "wait", table, where, columns, until, rows, timeout }),
  commit: (durable: boolean): Operation => ({ op: "commit", durable }),
  abort: (): Operation => ({ op: "abort" }),
  comment: (comment: string): Operation => ({ op: "comment", comment }),
  assert: (lock: string): Operation => ({ op: "assert", lock }),
};
