import { test } from "node:test";
import assert from "node:assert/strict";
import { Timers } from "./timers.js";

test("timers: fire once, cancel, restart, one lifetime ends all", { timeout: 5000 }, async () => {
  const life = new AbortController();
  const timers = new Timers(life.signal);
  const fired: string[] = [];
  let retried = 0;
  await new Promise<void>((done) => {
    timers.after(1, (h) => {
      fired.push("a");
      assert.equal(h.aborted, false);
      if (retried++ < 2) h.restart(1);
      else done();
    });
  });
  assert.deepEqual(fired, ["a", "a", "a"], "restart runs the same callback again");
  const cancelled = timers.after(1, () => fired.push("cancelled"));
  cancelled.cancel();
  assert.equal(cancelled.aborted, true);
  const pending = timers.after(60_000, () => fired.push("never"));
  assert.equal(timers.size, 1);
  life.abort();
  assert.equal(pending.aborted, true);
  assert.equal(timers.size, 0, "the lifetime's end clears every pending timer");
  assert.equal(timers.after(1, () => fired.push("late")).aborted, true, "no timers after the lifetime");
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(fired, ["a", "a", "a"]);
});
