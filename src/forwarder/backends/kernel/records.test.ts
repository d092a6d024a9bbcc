import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../../tools/log.js";
import { JOURNAL, RecordStore, recordFileOf } from "./records.js";

interface R {
  id: string;
  kind: string;
  wg?: { pid?: number; dev: string };
}

function tmp(t: import("node:test").TestContext): string {
  const d = mkdtempSync(join(tmpdir(), "nsm-records-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test("records: puts and deletes survive a restart; a torn last line is skipped", { timeout: 10_000 }, (t) => {
  const dir = tmp(t);
  const a = RecordStore.open<R>(dir, silentLogger);
  assert.equal(a.loaded.size, 0);
  a.store.put({ id: "c1", kind: "veth" });
  a.store.put({ id: "c2", kind: "veth" });
  a.store.put({ id: "c2", kind: "vxlan" });
  a.store.del("c1");
  a.store.close();
  appendFileSync(join(dir, JOURNAL), '{"put":{"id":"c3","ki'); // a crash mid-write
  const b = RecordStore.open<R>(dir, silentLogger);
  assert.deepEqual([...b.loaded.values()], [{ id: "c2", kind: "vxlan" }]);
  // compacted at open: one line per record
  assert.equal(readFileSync(join(dir, JOURNAL), "utf8"), '{"put":{"id":"c2","kind":"vxlan"}}\n');
  b.store.close();
  assert.deepEqual(readdirSync(dir), [JOURNAL]);
});

test(
  "records: wireguard records are mirrored as per-connection files; old per-connection files are read and migrated",
  { timeout: 10_000 },
  (t) => {
    const dir = tmp(t);
    writeFileSync(recordFileOf(dir, "old"), JSON.stringify({ id: "old", kind: "veth" }));
    const a = RecordStore.open<R>(dir, silentLogger);
    assert.deepEqual([...a.loaded.keys()], ["old"]);
    assert.deepEqual(readdirSync(dir), [JOURNAL], "the old file moved into the journal");
    const wg = { id: "w", kind: "wireguard", wg: { dev: "wg-1", pid: 42 } };
    a.store.put(wg);
    assert.deepEqual(JSON.parse(readFileSync(recordFileOf(dir, "w"), "utf8")), wg);
    a.store.close();
    const b = RecordStore.open<R>(dir, silentLogger);
    assert.deepEqual([...b.loaded.keys()].sort(), ["old", "w"]);
    assert.equal(readdirSync(dir).length, 2, "journal + the wireguard mirror");
    b.store.del("w");
    b.store.del("old");
    assert.deepEqual(readdirSync(dir), [JOURNAL]);
    b.store.close();
    assert.equal(RecordStore.open<R>(dir, silentLogger).loaded.size, 0);
  },
);

test("records: the journal is compacted as it grows", { timeout: 10_000 }, (t) => {
  const dir = tmp(t);
  const { store } = RecordStore.open<R>(dir, silentLogger);
  for (let i = 0; i < 3000; i++) {
    store.put({ id: `c${i}`, kind: "veth" });
    if (i >= 2) store.del(`c${i - 2}`);
  }
  store.close();
  const lines = readFileSync(join(dir, JOURNAL), "utf8").split("\n").filter(Boolean).length;
  assert.ok(lines <= 1100, `${lines} lines`);
  assert.deepEqual([...RecordStore.open<R>(dir, silentLogger).loaded.keys()].sort(), ["c2998", "c2999"]);
});

test("records: del(id, only) leaves a record that was replaced since", { timeout: 10_000 }, (t) => {
  const dir = tmp(t);
  const { store } = RecordStore.open<R>(dir, silentLogger);
  const first = { id: "c", kind: "veth" },
    second = { id: "c", kind: "veth" };
  store.put(first);
  store.put(second); // re-requested while the first one's teardown ran
  store.del("c", first);
  store.close();
  assert.deepEqual([...RecordStore.open<R>(dir, silentLogger).loaded.keys()], ["c"]);
});
