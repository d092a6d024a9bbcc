// The memory store's bounded history: a watch from a revision still held replays what follows
// it; one from before the oldest held event is told to reset (as a compacted etcd would).
import assert from "node:assert/strict";
import { test } from "node:test";
import { memoryStore } from "../../src/registry/store/memory.js";

test("memory store: watch replays from the kept history, resets before it", async () => {
  const s = memoryStore<string>({ clone: (v) => v, history: 3 });
  for (let i = 1; i <= 2000; i++) await s.put(`n${i % 5}`, `v${i}`);
  const seen: number[] = [];
  const off = s.watch(1997, { event: (e) => seen.push(e.revision), reset: () => assert.fail("reset"), error() {} });
  assert.deepEqual(seen, [1998, 1999, 2000]);
  await s.put("x", "y");
  assert.deepEqual(seen, [1998, 1999, 2000, 2001]);
  off();
  let reset = false;
  s.watch(1996, { event: () => assert.fail("event after a reset"), reset: () => (reset = true), error() {} });
  await new Promise((r) => setImmediate(r));
  assert.equal(reset, true);
  assert.equal((await s.list()).entries.length, 6);
  await s.close();
});
