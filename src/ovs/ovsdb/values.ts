/**
 * OVSDB values (RFC 7047 section 5.1) on the wire and in our replica.
 *
 * Wire: atoms are JSON strings/numbers/booleans, `["uuid",U]`, `["named-uuid",N]`; sets are
 * `["set",[…]]` or a bare atom for one element; maps are `["map",[[k,v],…]]`. Build them with
 * `uuid()`, `namedUuid()`, `set()`, `map()`.
 *
 * Replica ("decoded"): the schema says what a column is, and we store
 * - a scalar column (exactly one atom) as the atom (`"br0"`, `3`, `true`; a uuid as its string),
 * - a set column (including optional scalars such as `ofport`, min 0 max 1) as an array,
 * - a map column as a plain object with the keys as strings (`{ remote_ip: "10.0.0.2" }`).
 */

export type Atom = string | number | boolean;
export type WireAtom = Atom | ["uuid", string] | ["named-uuid", string];
export type WireSet = ["set", WireAtom[]];
export type WireMap = ["map", [WireAtom, WireAtom][]];
export type WireValue = WireAtom | WireSet | WireMap;
export type WireRow = Record<string, WireValue>;

export type Value = Atom | Atom[] | Record<string, Atom>;
export type Row = Record<string, Value>;

export function uuid(u: string): ["uuid", string] {
  return ["uuid", u];
}
export function namedUuid(n: string): ["named-uuid", string] {
  return ["named-uuid", n];
}
export function set(items: Iterable<WireAtom>): WireSet {
  return ["set", [...items]];
}
/** A map from an object (string keys) or from pairs (any atom keys). */
export function map(m: Record<string, WireAtom> | Iterable<[WireAtom, WireAtom]>): WireMap {
  const pairs = Symbol.iterator in m ? [...(m as Iterable<[WireAtom, WireAtom]>)] : Object.entries(m);
  return ["map", pairs];
}

// ---- schema ----

export type AtomicType = "integer" | "real" | "boolean" | "string" | "uuid";
export interface BaseType {
  type: AtomicType;
  enum?: WireValue;
  refTable?: string;
  refType?: "strong" | "weak";
  minInteger?: number;
  maxInteger?: number;
  minReal?: number;
  maxReal?: number;
  minLength?: number;
  maxLength?: number;
}
export interface ColumnType {
  key: BaseType;
  value?: BaseType;
  min: number;
  max: number | "unlimited";
}
export interface ColumnSchema {
  type: ColumnType;
  ephemeral?: boolean;
  mutable?: boolean;
}
export interface TableSchema {
  columns: Record<string, ColumnSchema>;
  isRoot?: boolean;
  maxRows?: number;
  indexes?: string[][];
}
export interface DatabaseSchema {
  name: string;
  version: string;
  cksum?: string;
  tables: Record<string, TableSchema>;
}

type RawBase = AtomicType | (Omit<BaseType, "type"> & { type: AtomicType });
type RawType = AtomicType | { key: RawBase; value?: RawBase; min?: number; max?: number | "unlimited" };

function base(b: RawBase): BaseType {
  return typeof b === "string" ? { type: b } : b;
}

/** Normalises a `get_schema` result: every column type in the long form with min/max filled in. */
export function parseSchema(raw: unknown): DatabaseSchema {
  const r = raw as {
    name: string;
    version: string;
    cksum?: string;
    tables: Record<
      string,
      { columns: Record<string, { type: RawType; ephemeral?: boolean; mutable?: boolean }> } & Omit<
        TableSchema,
        "columns"
      >
    >;
  };
  if (!r || typeof r !== "object" || typeof r.name !== "string" || typeof r.tables !== "object") {
    throw new TypeError(`not an OVSDB schema: ${JSON.stringify(raw).slice(0, 200)}`);
  }
  const tables: Record<string, TableSchema> = {};
  for (const [tn, t] of Object.entries(r.tables)) {
    const columns: Record<string, ColumnSchema> = {};
    for (const [cn, c] of Object.entries(t.columns)) {
      const ty = c.type;
      const type: ColumnType =
        typeof ty === "string"
          ? { key: { type: ty }, min: 1, max: 1 }
          : {
              key: base(ty.key),
              ...(ty.value !== undefined ? { value: base(ty.value) } : {}),
              min: ty.min ?? 1,
              max: ty.max ?? 1,
            };
      columns[cn] = { ...c, type };
    }
    // every table has these two, not listed in the schema
    columns._uuid = { type: { key: { type: "uuid" }, min: 1, max: 1 } };
    columns._version = { type: { key: { type: "uuid" }, min: 1, max: 1 } };
    tables[tn] = { ...t, columns };
  }
  return { name: r.name, version: r.version, ...(r.cksum !== undefined ? { cksum: r.cksum } : {}), tables };
}

export type ColumnKind = "scalar" | "set" | "map";
export function columnKind(t: ColumnType): ColumnKind {
  if (t.value) return "map";
  return t.min === 1 && t.max === 1 ? "scalar" : "set";
}

// ---- decoding ----

export function decodeAtom(a: unknown): Atom {
  if (typeof a === "string" || typeof a === "number" || typeof a === "boolean") return a;
  if (Array.isArray(a) && a.length === 2 && (a[0] === "uuid" || a[0] === "named-uuid") && typeof a[1] === "string")
    return a[1];
  throw new TypeError(`not an OVSDB atom: ${JSON.stringify(a)}`);
}

/** A wire set (or bare atom) as an array of atoms. */
export function decodeSet(v: unknown): Atom[] {
  if (Array.isArray(v) && v[0] === "set" && Array.isArray(v[1])) return (v[1] as unknown[]).map(decodeAtom);
  return [decodeAtom(v)];
}

export function decodeMap(v: unknown): Record<string, Atom> {
  if (!(Array.isArray(v) && v[0] === "map" && Array.isArray(v[1])))
    throw new TypeError(`not an OVSDB map: ${JSON.stringify(v)}`);
  const out: Record<string, Atom> = {};
  for (const [k, val] of v[1] as [unknown, unknown][]) out[String(decodeAtom(k))] = decodeAtom(val);
  return out;
}

export function decodeValue(v: unknown, t: ColumnType): Value {
  switch (columnKind(t)) {
    case "scalar":
      return decodeAtom(v);
    case "set":
      return decodeSet(v);
    case "map":
      return decodeMap(v);
  }
}

/** The value a column holds when a `monitor_cond` row leaves it out. */
export function defaultValue(t: ColumnType): Value {
  switch (columnKind(t)) {
    case "map":
      return {};
    case "set":
      return [];
    case "scalar":
      switch (t.key.type) {
        case "integer":
        case "real":
          return 0;
        case "boolean":
          return false;
        case "string":
          return "";
        case "uuid":
          return "00000000-0000-0000-0000-000000000000";
      }
  }
}

/** Decodes a wire row of `table`; columns not in the schema are kept as they came (decoded best-effort). */
export function decodeRow(raw: Record<string, unknown>, table: TableSchema): Row {
  const row: Row = {};
  for (const [c, v] of Object.entries(raw)) {
    const col = table.columns[c];
    row[c] = col ? decodeValue(v, col.type) : (v as Value);
  }
  return row;
}

/**
 * Applies an `update2` "modify" diff of one column (ovsdb-server(7)): a scalar gets the new value;
 * a set toggles each listed element; a map adds new keys, removes a key given with its current
 * value, and replaces the value of a key given with another value.
 */
export function applyDiff(old: Value | undefined, diff: unknown, t: ColumnType): Value {
  switch (columnKind(t)) {
    case "scalar":
      return decodeAtom(diff);
    case "set": {
      const cur = [...((old as Atom[] | undefined) ?? [])];
      for (const a of decodeSet(diff)) {
        const i = cur.indexOf(a);
        if (i >= 0) cur.splice(i, 1);
        else cur.push(a);
      }
      return cur;
    }
    case "map": {
      const cur = { ...((old as Record<string, Atom> | undefined) ?? {}) };
      for (const [k, v] of Object.entries(decodeMap(diff))) {
        if (k in cur && cur[k] === v) delete cur[k];
        else cur[k] = v;
      }
      return cur;
    }
  }
}

/** An optional scalar (`ofport`, `tag`, `error`...) as the atom or undefined. */
export function opt<T extends Atom>(v: Value | undefined): T | undefined {
  if (Array.isArray(v)) return v[0] as T | undefined;
  return v as T | undefined;
}
