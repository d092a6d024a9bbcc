/**
 * Collects a registry watch (or any async stream) as short strings and waits for conditions on
 * them event by event: `until` re-checks when an item arrives, never on a polling timer. Its
 * deadline is a real-time AbortSignal.timeout, so it also works while a test mocks the clock.
 *
 *   const w = watchLog(reg.nse.find(nseQuery({}, true), newCtx({ signal })), nseEvent);
 *   await w.until((g) => g.includes("nse-1-"));
 */
import type { NetworkServiceEndpointResponse } from "../../src/api/index.js";

/** "name+" for an update, "name-" for a deletion. */
export const nseEvent = (r: NetworkServiceEndpointResponse) =>
  `${r.networkServiceEndpoint!.name}${r.deleted ? "-" : "+"}`;

export interface WatchLog<T> {
  readonly got: T[];
  /** resolves when the stream ends (or fails: a cancel by the test) */
  readonly done: Promise<void>;
  /** resolves once `pred(got)` holds; rejects after `ms` of real time listing what came */
  until(pred: (got: T[]) => boolean, ms?: number): Promise<void>;
}

export function watchLog<I, T>(it: AsyncIterable<I>, map: (item: I) => T): WatchLog<T> {
  const got: T[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const done = (async () => {
    try {
      for await (const item of it) {
        got.push(map(item));
        wake?.();
      }
    } catch {
      // cancelled by the test
    } finally {
      ended = true;
      wake?.();
    }
  })();
  return {
    got,
    done,
    async until(pred, ms = 10_000) {
      const deadline = AbortSignal.timeout(ms);
      const poke = () => wake?.();
      deadline.addEventListener("abort", poke, { once: true });
      try {
        while (!pred(got)) {
          if (deadline.aborted) throw new Error(`not met after ${ms} ms; got ${JSON.stringify(got)}`);
          if (ended) throw new Error(`stream ended; got ${JSON.stringify(got)}`);
          await new Promise<void>((r) => (wake = r));
        }
      } finally {
        deadline.removeEventListener("abort", poke);
      }
    },
  };
}
