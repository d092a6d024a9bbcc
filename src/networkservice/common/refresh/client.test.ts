import { test } from "node:test";
import assert from "node:assert/strict";
import { create, ConnectionSchema, timestampFromMs } from "../../../api/index.js";
import { beginClient, chain, newCtx } from "../../../core/index.js";
import { deferred, newRequest } from "../../../core/testing/index.js";
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

test("refresh re-requests before expiry and stops on Close", { timeout: 5000 }, async () => {
  const life = new AbortController();
  let n = 0;
  const second = deferred();
  const s = chain(beginClient({ signal: life.signal }), refreshClient(life.signal), {
    async request(req) {
      if (++n === 2) second.resolve();
      const c = req.connection!;
      c.path = create(ConnectionSchema, {
        path: { index: 0, pathSegments: [{ name: "a", id: c.id, expires: timestampFromMs(Date.now() + 150) }] },
      }).path;
      return c;
    },
  });
  const conn = await s.request(newRequest("c1"), newCtx({ timeoutMs: 1000 }));
  await second.promise; // at ~50 ms (1/3 of 150)
  await s.close(conn, newCtx({ timeoutMs: 1000 }));
  const after = n;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(n, after, "no refresh after Close");
  life.abort();
});
