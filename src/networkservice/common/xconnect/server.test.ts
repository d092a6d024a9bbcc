import { test } from "node:test";
import assert from "node:assert/strict";
import { clone, commonKeys, kernel, mechType, MechanismSchema, newMechanism, cls } from "../../../api/index.js";
import { chain, type ServerElement } from "../../../core/index.js";
import { checkClose, checkRequest, newRequest, testCtx } from "../../../core/testing/index.js";
import { nullBackend } from "../../../forwarder/backends/null/index.js";
import { xconnectServer } from "./server.js";

/** An NSE that answers KERNEL with its netns as an inode URL (as upstream's sendfd server does). */
const nse: ServerElement = {
  async request(req) {
    const conn = req.connection!;
    conn.mechanism = clone(MechanismSchema, req.mechanismPreferences[0] ?? conn.mechanism!);
    conn.mechanism.parameters[commonKeys.INODE_URL] = "inode://4/4026532178";
    return conn;
  },
};

const show = (m: { type: string; parameters: Record<string, string> } | undefined) =>
  m ? `${m.type} inodeURL=${m.parameters[commonKeys.INODE_URL] ?? "-"}` : "none";

test("xconnect: refresh and Close do not re-send the NSE's inode:// URL (no fd would follow it)", async () => {
  const sent: (string | undefined)[] = [];
  const closed: (string | undefined)[] = [];
  const server = chain(
    xconnectServer(nullBackend()),
    checkRequest((r) => void sent.push(show(r.connection?.mechanism))),
    checkClose((c) => void closed.push(show(c.mechanism))),
    nse,
  );
  const ctx = testCtx();
  const req = newRequest("c-1");
  req.mechanismPreferences = [
    newMechanism(cls.LOCAL, mechType.KERNEL, { [commonKeys.INODE_URL]: "file:///proc/1/ns/net" }),
  ];
  const first = await server.request(req, ctx);
  assert.equal(kernel.netnsUrlOf(first), "file:///proc/1/ns/net", "the caller gets its own mechanism back");
  const again = newRequest("c-1");
  again.connection!.mechanism = clone(MechanismSchema, first.mechanism!);
  await server.request(again, ctx);
  await server.close(first, ctx);
  assert.deepEqual(sent, ["none", "KERNEL inodeURL=-"], "refresh: the previous mechanism without its inodeURL");
  assert.deepEqual(closed, ["KERNEL inodeURL=-"], "Close: the previous mechanism without its inodeURL");
});
