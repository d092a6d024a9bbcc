import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionState } from "../../../api/index.js";
import { beginServer, chain } from "../../../core/index.js";
import { checkRequest, newRequest, testCtx } from "../../../core/testing/index.js";
import { updatePathClient } from "./client.js";
import { updatePathServer } from "./server.js";

test(
  "updatepath: a request without path gets one segment named after us, index 0, id = segment id",
  { timeout: 5000 },
  async () => {
    const conn = await chain(updatePathServer("nse"), beginServer()).request(newRequest("c1"), testCtx());
    assert.equal(conn.path!.pathSegments.length, 1);
    assert.equal(conn.path!.index, 0);
    assert.equal(conn.path!.pathSegments[0]!.name, "nse");
    assert.equal(conn.id, conn.path!.pathSegments[0]!.id);
    assert.equal(conn.state, ConnectionState.UP);
  },
);

test(
  "updatepath: each hop has its own id, the caller sees its own id, a refresh keeps every id",
  { timeout: 5000 },
  async () => {
    const ids: string[] = [];
    const hop2 = chain(
      updatePathServer("nsmgr"),
      checkRequest((r) => {
        ids.push(r.connection!.id);
      }),
    );
    const nsc = chain(updatePathClient("nsc"), { request: (r, c) => hop2.request(r, c) });
    const first = await nsc.request(newRequest("nsc-0"), testCtx());
    assert.equal(first.id, "nsc-0");
    assert.deepEqual(
      first.path!.pathSegments.map((s) => s.name),
      ["nsc", "nsmgr"],
    );
    assert.notEqual(ids[0], "nsc-0");
    const again = await nsc.request({ ...newRequest("nsc-0"), connection: first } as never, testCtx());
    assert.equal(again.id, "nsc-0");
    assert.equal(ids[1], ids[0], "the nsmgr segment id is stable across a refresh");
  },
);

test("updatepath: bad index or id mismatch is refused naming the values", { timeout: 5000 }, async () => {
  const s = chain(updatePathServer("nsmgr"));
  const bad = newRequest("c1");
  bad.connection!.path = {
    $typeName: "connection.Path",
    index: 3,
    pathSegments: [{ $typeName: "connection.PathSegment", name: "nsc", id: "c1", token: "", metrics: {} }],
  };
  await assert.rejects(
    s.request(bad, testCtx()),
    /Path.Index\+1==4 should be less or equal len\(Path.PathSegments\)==1/,
  );
  const mismatch = newRequest("other");
  mismatch.connection!.path = {
    $typeName: "connection.Path",
    index: 0,
    pathSegments: [{ $typeName: "connection.PathSegment", name: "nsc", id: "c1", token: "", metrics: {} }],
  };
  await assert.rejects(
    s.request(mismatch, testCtx()),
    /Current PathSegment.Id==c1 should be equal Connection.Id==other/,
  );
});
