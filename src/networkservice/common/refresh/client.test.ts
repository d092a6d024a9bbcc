import { test } from "node:test";
import assert from "node:assert/strict";
import { create, ConnectionSchema, timestampFromMs } from "../../../api/index.js";
import { beginClient, chain, newCtx } from "../../../core/index.js";
import { newRequest } from "../../../core/testing/index.js";
import { mockClock } from "../../../core/testing/clock.js";
import { refreshClient, refreshDelay } from "./client.js";

test("refresh delay: 1/3 for one segment, 0.2 + 0.2·index/len otherwise, of the shortest lifetime", () => {
  const now = 1_000_000;
  const seg = (ms: number) => ({ name: "x", id: "x", expires: timestampFromMs(now + ms) });
  const one = create(ConnectionSchema, { path: { index: 0, pathSegments: [seg(3000)] } });
  assert.equal(refreshDelay(one, now), 1000);
  const four = create(ConnectionSchema, {
    path: { index: 0, pathSegments: [seg(10_000), seg(5000), seg(8000), seg(9000)] },
  });
  assert.equal(refreshDelay(four, now), 1000, "20% of the shortest (5 s)");
  assert.equal(refreshDelay(create(ConnectionSchema, {}), now), 0);
});

test("refresh re-requests at 1/3 of the lifetime and stops on Close", { timeout: 5000 }, async (t) => {
  const clock = mockClock(t);
  const life = new AbortController();
  t.after(() => life.abort());
  const t0 = clock.now();
  const at: number[] = [];
  const s = chain(beginClient({ signal: life.signal }), refreshClient(life.signal), {
    async request(req) {
      at.push(clock.now() - t0);
      const c = req.connection!;
      c.path = create(ConnectionSchema, {
        path: { index: 0, pathSegments: [{ name: "a", id: c.id, expires: timestampFromMs(Date.now() + 30_000) }] },
      }).path;
      return c;
    },
  });
  const conn = await s.request(newRequest("c1"), newCtx({ timeoutMs: 1000 }));
  await clock.advance(9_999);
  assert.deepEqual(at, [0], "no refresh before 1/3 of the 30 s lifetime");
  await clock.advance(1);
  assert.deepEqual(at, [0, 10_000]);
  await clock.advance(10_000);
  assert.deepEqual(at, [0, 10_000, 20_000], "each refresh sets the next from its own reply");
  await s.close(conn, newCtx({ timeoutMs: 1000 }));
  await clock.advance(120_000, { stepMs: 10_000 });
  assert.deepEqual(at, [0, 10_000, 20_000], "no refresh after Close");
});
