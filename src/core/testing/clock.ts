/**
 * A test clock over node:test's mock timers: `setTimeout`/`setInterval` and `Date` move only when
 * the test says so, so a test about "closed 20 s after the last refresh" runs in microseconds
 * and cannot race the wall clock. Promises, I/O and `setImmediate` stay real.
 *
 *   test("...", async (t) => {
 *     const clock = mockClock(t);        // restored when the test ends
 *     await clock.advance(19_999);       // fires what is due, lets the async work it starts settle
 *   });
 */
import type { TestContext } from "node:test";

/** Fixed start of mocked time: 2026-01-01T00:00:00Z. */
export const CLOCK_START = Date.UTC(2026, 0, 1);

export interface MockClock {
  /** mocked Date.now() */
  now(): number;
  /**
   * Moves time forward `ms` in steps of at most `stepMs` (default: one step), letting promise
   * chains started by fired timers settle after each step, so a timer they set runs in time.
   * A timer fired within a step sees Date.now() at the step's end (node's mock timers): advance
   * to exact due times when a callback reads the clock or sets a timer relative to it.
   */
  advance(ms: number, o?: { stepMs?: number }): Promise<void>;
}

/** Runs the event loop until pending promise work is done (`turns` rounds of setImmediate). */
export async function settle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

export function mockClock(t: TestContext, start = CLOCK_START): MockClock {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: start });
  return {
    now: () => Date.now(),
    async advance(ms, o = {}) {
      const step = o.stepMs ?? ms;
      await settle();
      for (let left = ms; left > 0; left -= step) {
        t.mock.timers.tick(Math.min(step, left));
        await settle();
      }
    },
  };
}
