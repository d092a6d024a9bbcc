// vl3 MTU: 9000 by default; a request with a smaller MTU lowers it for the connections that follow.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, ConnectionContextSchema } from "../../../api/index.js";
import { chain } from "../../../core/index.js";
import { newRequest, testCtx } from "../../../core/testing/index.js";
import { vl3MtuServer } from "./server.js";

test("smallest MTU wins", async () => {
  const m = vl3MtuServer();
  const s = chain(m);
  assert.equal((await s.request(newRequest("a"), testCtx())).context!.MTU, 9000);
  const small = newRequest("b");
  small.connection!.context = create(ConnectionContextSchema, { MTU: 1446 });
  assert.equal((await s.request(small, testCtx())).context!.MTU, 1446);
  assert.equal((await s.request(newRequest("c"), testCtx())).context!.MTU, 1446);
  assert.equal(m.mtu, 1446);
});
