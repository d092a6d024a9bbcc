// OVSDB client pieces that need no Open vSwitch: the JSON stream splitter, value decoding and
// update2 diffs, and echo keepalive against a scripted JSON-RPC peer on a unix socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "../../src/tools/errors.js";
import {
  JsonSplitter,
  OvsdbClient,
  OvsdbError,
  Replica,
  applyDiff,
  decodeRow,
  parseOvsTarget,
  parseSchema,
  type ColumnType,
} from "../../src/ovs/ovsdb/index.js";

test("JsonSplitter splits back-to-back values cut anywhere, including inside strings and UTF-8", () => {
  const values = [{ id: 1, result: ["a}b", 'c\\"]{'] }, { method: "update2", params: ["é€😀", { x: [] }] }, [1, [2]]];
  const bytes = Buffer.from(values.map((v) => JSON.stringify(v)).join(" \n"));
  for (let cut = 1; cut < bytes.length; cut += 3) {
    const out: unknown[] = [];
    const s = new JsonSplitter((v) => out.push(v));
    for (let i = 0; i < bytes.length; i += cut) s.push(bytes.subarray(i, i + cut));
    assert.deepEqual(out, values, `cut ${cut}`);
  }
  const s = new JsonSplitter(() => {});
  assert.throws(() => s.push(Buffer.from("x{}")), /expected "\{"/);
});

const t = (
  key: ColumnType["key"]["type"],
  min = 1,
  max: number | "unlimited" = 1,
  value?: ColumnType["key"]["type"],
): ColumnType => ({ key: { type: key }, min, max, ...(value ? { value: { type: value } } : {}) });

test("update2 diffs: scalar replaces, set toggles, map adds/removes/replaces", () => {
  assert.equal(applyDiff("a", "b", t("string")), "b");
  assert.deepEqual(applyDiff([], 2, t("integer", 0, 1)), [2]); // ofport [] -> 2
  assert.deepEqual(applyDiff([2], ["set", [2, 3]], t("integer", 0, 1)), [3]); // 2 -> 3
  assert.deepEqual(applyDiff(["x", "y"], ["set", ["y", "z"]], t("string", 0, "unlimited")), ["x", "z"]);
  assert.deepEqual(
    applyDiff(
      { a: "1", b: "2", c: "3" },
      [
        "map",
        [
          ["a", "1"],
          ["b", "9"],
          ["d", "4"],
        ],
      ],
      t("string", 0, "unlimited", "string"),
    ),
    { b: "9", c: "3", d: "4" },
  );
});

test("decodeRow uses the schema: bare atoms, sets, maps, uuids", () => {
  const schema = parseSchema({
    name: "D",
    version: "1.0.0",
    tables: {
      T: {
        columns: {
          s: { type: "string" },
          o: { type: { key: "integer", min: 0, max: 1 } },
          u: { type: { key: { type: "uuid", refTable: "T" }, min: 0, max: "unlimited" } },
          m: { type: { key: "string", value: "string", min: 0, max: "unlimited" } },
        },
      },
    },
  });
  assert.deepEqual(
    decodeRow({ s: "x", o: ["set", []], u: ["uuid", "u1"], m: ["map", [["k", "v"]]] }, schema.tables.T!),
    { s: "x", o: [], u: ["u1"], m: { k: "v" } },
  );
  const r = new Replica(schema);
  r.applyUpdate2({ T: { id1: { insert: { s: "x" } } } });
  assert.deepEqual(r.get("T", "id1"), { s: "x", o: [], u: [], m: {}, _uuid: "id1" }); // defaults filled in
  r.applyUpdate2({ T: { id1: { modify: { o: 5, m: ["map", [["k", "v"]]] } } } });
  assert.deepEqual(r.get("T", "id1"), { s: "x", o: [5], u: [], m: { k: "v" }, _uuid: "id1" });
  r.applyUpdate2({ T: { id1: { delete: null } } });
  assert.equal(r.get("T", "id1"), undefined);
});

test("parseOvsTarget accepts OVS and NSM spellings and names a bad one", () => {
  assert.deepEqual(parseOvsTarget("unix:/run/db.sock"), { kind: "unix", path: "/run/db.sock" });
  assert.deepEqual(parseOvsTarget("unix:///run/db.sock"), { kind: "unix", path: "/run/db.sock" });
  assert.deepEqual(parseOvsTarget("tcp:127.0.0.1:6640"), { kind: "tcp", host: "127.0.0.1", port: 6640 });
  assert.deepEqual(parseOvsTarget("tcp://[::1]:6640"), { kind: "tcp", host: "::1", port: 6640 });
  assert.throws(() => parseOvsTarget("ssl:1.2.3.4:6640"), /"ssl:1.2.3.4:6640"/);
});

/** A scripted JSON-RPC peer: records what it gets, answers list_dbs, and runs `onConn` per session. */
async function peer(
  onMessage: (m: Record<string, unknown>, sock: Socket, conn: number) => void,
): Promise<{ path: string; server: Server; conns: Socket[]; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "nsm-ovsdb-unit-"));
  const path = join(dir, "db.sock");
  const conns: Socket[] = [];
  const server = createServer((sock) => {
    const n = conns.push(sock) - 1;
    const split = new JsonSplitter((v) => onMessage(v as Record<string, unknown>, sock, n));
    sock.on("data", (b) => split.push(b));
    sock.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    path,
    server,
    conns,
    close: async () => {
      for (const c of conns) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test(
  "keepalive: answers the server's echo; drops a session whose echo goes unanswered, then reconnects",
  { timeout: 10_000 },
  async (t) => {
    const got: string[] = [];
    let answerEcho = false;
    const p = await peer((m, sock, n) => {
      got.push(`${n}:${String(m.method ?? "reply")}`);
      if (m.method === "list_dbs") sock.write(JSON.stringify({ id: m.id, result: ["X"], error: null }));
      if (m.method === "echo" && answerEcho) sock.write(JSON.stringify({ id: m.id, result: m.params, error: null }));
      if (m.id === "echo" && m.result) got.push(`${n}:echo-reply ${JSON.stringify(m.result)}`);
    });
    t.after(() => p.close());
    const db = await OvsdbClient.connect(`unix:${p.path}`, { keepaliveMs: 60, backoffMs: { min: 10, max: 50 } });
    t.after(() => db.close());

    // the server probes us
    p.conns[0]!.write(JSON.stringify({ id: "echo", method: "echo", params: ["hi"] }));
    const lost = new Promise((r) => db.on("disconnected", r));
    const back = new Promise((r) => db.on("connected", r));
    await lost; // our echo after 60 ms idle, unanswered for 60 ms more ⇒ session dropped
    assert.ok(got.includes('0:echo-reply ["hi"]'), got.join(","));
    assert.ok(got.includes("0:echo"), got.join(","));
    answerEcho = true;
    await back;
    assert.deepEqual(await db.listDbs(), ["X"]);
    assert.equal(p.conns.length, 2);
  },
);

test(
  "requests fail with UNAVAILABLE naming the target when not connected, and after close",
  { timeout: 5_000 },
  async (t) => {
    await assert.rejects(
      OvsdbClient.connect("unix:/nonexistent/nsm/db.sock"),
      (e: OvsdbError) => e.code === status.UNAVAILABLE && /\/nonexistent\/nsm\/db.sock/.test(e.message),
    );
    const p = await peer(() => {});
    t.after(() => p.close());
    const db = await OvsdbClient.connect(p.path, { keepaliveMs: 0 });
    const pending = db.listDbs();
    db.close();
    await assert.rejects(pending, (e: OvsdbError) => e.code === status.UNAVAILABLE);
    await assert.rejects(db.listDbs(), (e: OvsdbError) => e.code === status.UNAVAILABLE && /closed/.test(e.message));
  },
);

test("a request with no reply times out with DEADLINE_EXCEEDED naming the method", { timeout: 5_000 }, async (t) => {
  const p = await peer(() => {});
  t.after(() => p.close());
  const db = await OvsdbClient.connect(p.path, { keepaliveMs: 0, timeoutMs: 30 });
  t.after(() => db.close());
  await assert.rejects(
    db.getSchema("X"),
    (e: OvsdbError) => e.code === status.DEADLINE_EXCEEDED && /get_schema/.test(e.message),
  );
});
