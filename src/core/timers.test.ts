import { test } from "node:test";
import assert from "node:assert/strict";
import { Timers } from "./timers.js";
import { mockClock } from "./testing/clock.js";

test("timers: fire once at their time, cancel, restart, one lifetime ends all", { timeout: 5000 }, async (t) => {
  const clock = mockClock(t);
  const life = new AbortController();
  const timers = new Timers(life.signal);
  const t0 = clock.now();
  const fired: number[] = [];
  let retried = 0;
  timers.after(1000, (h) => {
    fired.push(clock.now() - t0);
    assert.equal(h.aborted, false);
    if (retried++ < 2) h.restart(500);
  });
  await clock.advance(999);
  assert.equal(fired.length, 0);
  await clock.advance(1); // fires, restarts for 500 ms
  await clock.advance(499);
  assert.deepEqual(fired, [1000]);
  await clock.advance(1);
  await clock.advance(500);
  await clock.advance(5000);
  assert.deepEqual(fired, [1000, 1500, 2000], "restart runs the same callback again, `ms` after the restart");
  assert.equal(timers.size, 0);

  const cancelled = timers.after(1, () => fired.push(-1));
  cancelled.cancel();
  assert.equal(cancelled.aborted, true);
  const pending = timers.after(60_000, () => fired.push(-2));
  assert.equal(timers.size, 1);
  life.abort();
  assert.equal(pending.aborted, true);
  assert.equal(timers.size, 0, "the lifetime's end clears every pending timer");
  assert.equal(timers.after(1, () => fired.push(-3)).aborted, true, "no timers after the lifetime");
  await clock.advance(120_000);
  assert.deepEqual(fired, [1000, 1500, 2000], "nothing cancelled ever fires");
});
