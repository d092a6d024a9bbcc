import { test } from "node:test";
import assert from "node:assert/strict";
import { create, NetworkServiceRequestSchema, timestampFromMs } from "../../../api/index.js";
import { beginServer, chain, metadataServer, newCtx } from "../../../core/index.js";
import { checkClose } from "../../../core/testing/index.js";
import { mockClock } from "../../../core/testing/clock.js";
import { timeoutServer } from "./server.js";

const req = (expiresInMs: number) =>
  create(NetworkServiceRequestSchema, {
    connection: {
      id: "c1",
      networkService: "ns",
      path: {
        index: 1,
        pathSegments: [
          { name: "nsc", id: "nsc-0", expires: timestampFromMs(Date.now() + expiresInMs) },
          { name: "nse", id: "c1" },
        ],
      },
    },
  });

test(
  "timeout closes a connection whose caller stops refreshing at expires − the request's budget",
  { timeout: 5000 },
  async (t) => {
    const clock = mockClock(t);
    const life = new AbortController();
    t.after(() => life.abort());
    const closedAt: number[] = [];
    const s = chain(
      beginServer({ signal: life.signal }),
      metadataServer(),
      timeoutServer(life.signal),
      checkClose(() => {
        closedAt.push(clock.now());
      }),
    );
    const t0 = clock.now();
    // the caller's token lives 30 s; its request had a 10 s budget, so the close is due at 20 s
    await s.request(req(30_000), newCtx({ timeoutMs: 10_000 }));
    await clock.advance(19_999);
    assert.deepEqual(closedAt, [], "closed before expires − budget");
    await clock.advance(1);
    assert.deepEqual(
      closedAt.map((at) => at - t0),
      [20_000],
    );
    await clock.advance(60_000);
    assert.equal(closedAt.length, 1, "closed once");
  },
);

test("timeout refuses a caller without expiry", { timeout: 5000 }, async (t) => {
  const life = new AbortController();
  t.after(() => life.abort());
  const s = chain(beginServer({ signal: life.signal }), metadataServer(), timeoutServer(life.signal));
  const noExp = req(100);
  noExp.connection!.path!.pathSegments[0]!.expires = undefined;
  await assert.rejects(
    s.request(noExp, newCtx({ timeoutMs: 100 })),
    /expiration for the previous path segment cannot be nil/,
  );
});

test("timeout: a refresh postpones the close; an explicit Close cancels it", { timeout: 5000 }, async (t) => {
  const clock = mockClock(t);
  const life = new AbortController();
  t.after(() => life.abort());
  const closedAt: number[] = [];
  const s = chain(
    beginServer({ signal: life.signal }),
    metadataServer(),
    timeoutServer(life.signal),
    checkClose(() => {
      closedAt.push(clock.now());
    }),
  );
  const t0 = clock.now();
  await s.request(req(10_000), newCtx()); // no deadline: no budget, due at 10 s
  await clock.advance(8_000);
  const conn = await s.request(req(10_000), newCtx()); // refresh at 8 s: now due at 18 s
  await clock.advance(9_999);
  assert.deepEqual(closedAt, [], "the refresh moved the close past the first expiry");
  await clock.advance(1);
  assert.deepEqual(
    closedAt.map((at) => at - t0),
    [18_000],
  );

  await s.request(req(10_000), newCtx()); // a new connection with the same id, closed by the caller
  await s.close(conn, newCtx());
  assert.equal(closedAt.length, 2);
  await clock.advance(60_000);
  assert.equal(closedAt.length, 2, "the explicit Close cancelled the timer");
});
