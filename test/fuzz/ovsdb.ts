/**
 * OVSDB JSON-RPC frames from ovsdb-server: the input is cut into chunks (at offsets the input's
 * first bytes pick) and fed to the stream splitter the client uses (src/ovs/ovsdb/jsonstream.ts);
 * each value that looks like a get_schema result goes through parseSchema. The splitter must
 * only ever return values or throw SyntaxError/Error (the client closes the session on those).
 */
import { JsonSplitter } from "../../src/ovs/ovsdb/jsonstream.js";
import { parseSchema } from "../../src/ovs/ovsdb/values.js";
import type { FuzzTarget } from "./driver.js";

const schema = {
  name: "Open_vSwitch",
  version: "8.3.0",
  tables: {
    Bridge: {
      columns: {
        name: { type: "string" },
        ports: { type: { key: { type: "uuid", refTable: "Port" }, min: 0, max: "unlimited" } },
        other_config: { type: { key: "string", value: "string", min: 0, max: "unlimited" } },
      },
      indexes: [["name"]],
    },
  },
};

const seeds = [
  { id: 1, result: schema, error: null },
  { id: null, method: "update", params: ["mon", { Bridge: { "7a0b": { new: { name: "br0", ports: ["set", []] } } } }] },
  { id: "echo", method: "echo", params: [] },
  { id: 2, result: [{}, { error: "constraint violation", details: "x" }], error: null },
  { id: 3, result: null, error: "unknown database" },
].map((v) => Buffer.from(JSON.stringify(v)));

export const ovsdb: FuzzTarget = {
  name: "ovsdb",
  seeds: [...seeds, Buffer.concat(seeds), Buffer.from('[1,2]{"a":"\\u00e9\\"}"}')],
  run(input) {
    const split = new JsonSplitter((v) => {
      const r = (v as { result?: unknown } | null)?.result as { tables?: unknown } | undefined;
      if (!r || typeof r !== "object" || !("tables" in r)) return;
      // The client awaits get_schema, so any Error here is a failed request, not a crash. A
      // TypeError from an unchecked field is still a poor message: known, see docs/native.md.
      try {
        parseSchema(r);
      } catch (e) {
        if (!(e instanceof Error)) throw e;
      }
    }, 1 << 20);
    const cut = input.length ? (input[0]! % 7) + 1 : 1;
    for (let off = 0; off < input.length; off += cut) split.push(input.subarray(off, off + cut));
  },
};
