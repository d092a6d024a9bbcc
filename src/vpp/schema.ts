/**
 * The shape of the generated message schemas (src/vpp/gen/messages.ts, written by
 * scripts/vpp-gen.mjs from VPP's .api.json files) that src/vpp/codec.ts interprets.
 */
export type Scalar = "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" | "f64" | "bool";

export type Node =
  | { k: Scalar; e?: string }
  /** `n` bytes NUL padded; n = 0: u32 length + bytes */
  | { k: "string"; n: number }
  /** u8 array: n fixed bytes, or (n = 0) as many as the field `count` says */
  | { k: "bytes"; n: number; count?: string }
  | { k: "array"; n: number; of: Node; count?: string }
  | { k: "struct"; ref: string }
  /** raw bytes of the union's largest member */
  | { k: "union"; ref: string; n: number };

/** [field name, type, default when omitted] */
export type Field = readonly [string, Node, (number | boolean | string)?];
export type Schema = readonly Field[];
export interface MessageSchema {
  /** 8 hex digits, the `name_crc` suffix */
  crc: string;
  fields: Schema;
}

/** A request's nested value: every field optional (zero or the .api default), at every depth. */
export type In<T> = T extends Uint8Array
  ? T
  : T extends readonly (infer U)[]
    ? In<U>[]
    : T extends object
      ? { [K in keyof T]?: In<T[K]> }
      : T;
