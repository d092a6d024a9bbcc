import { test } from "node:test";
import assert from "node:assert/strict";
import { create, NetworkServiceRequestSchema, timestampFromMs } from "../../../api/index.js";
import { beginServer, chain, metadataServer, newCtx } from "../../../core/index.js";
import { checkClose, deferred } from "../../../core/testing/index.js";
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
  "timeout closes a connection whose caller stops refreshing, before the caller's token expires",
  { timeout: 5000 },
  async () => {
    const life = new AbortController();
    const closed = deferred<number>();
    const s = chain(
      beginServer({ signal: life.signal }),
      metadataServer(),
      timeoutServer(life.signal),
      checkClose(() => closed.resolve(Date.now())),
    );
    const t0 = Date.now();
    await s.request(req(300), newCtx({ timeoutMs: 100 }));
    const at = await closed.promise;
    assert.ok(at - t0 < 300, `closed after ${at - t0} ms, token expired at 300 ms`);
    assert.ok(at - t0 >= 150, `closed too early (${at - t0} ms): expires − budget is ~200 ms`);
    life.abort();
  },
);

test("timeout refuses a caller without expiry and a refresh postpones the close", { timeout: 5000 }, async () => {
  const life = new AbortController();
  let closes = 0;
  const s = chain(
    beginServer({ signal: life.signal }),
    metadataServer(),
    timeoutServer(life.signal),
    checkClose(() => {
      closes++;
    }),
  );
  const noExp = req(100);
  noExp.connection!.path!.pathSegments[0]!.expires = undefined;
  await assert.rejects(
    s.request(noExp, newCtx({ timeoutMs: 100 })),
    /expiration for the previous path segment cannot be nil/,
  );
  await s.request(req(150), newCtx());
  await new Promise((r) => setTimeout(r, 100));
  await s.request(req(300), newCtx()); // refresh
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(closes, 0, "the refresh moved the deadline");
  life.abort();
});
