// client(): heal and upstreamrefresh share the monitor streams of one NSC, so its nsmgr serves one
// MonitorConnection stream for it (counted at the nsmgr's real monitor server, over grpc-js on
// unix sockets in the in-process sandbox), before and after a heal.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Connection } from "../../api/index.js";
import { sandbox } from "../../sandbox/index.js";

/** polls `f` until it holds (5 s at most) */
async function until(what: string, f: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(f(), `timed out waiting for ${what}`);
}

test(
  "an NSC with heal and upstreamrefresh opens one monitor stream per next hop, also after a heal",
  { timeout: 30_000 },
  async (t) => {
    const sb = await sandbox();
    t.after(() => sb.close());
    const node = sb.node(0);
    await node.endpoint({ name: "nse-1", services: ["icmp"] });
    const healed = new Map<string, Connection>();
    // createClient's defaults: heal (no liveness check) and upstreamrefresh, both on
    const nsc = await node.client({ name: "nsc", heal: { onHealed: (id, c) => healed.set(id, c) } });
    const streams = () => node.nsmgr.endpoint.monitor.subscribers;
    assert.equal(streams(), 0);

    const a = await nsc.request("kernel://icmp/nsm-1", { id: "a" });
    await nsc.request("kernel://icmp/nsm-2", { id: "b" });
    await nsc.request("kernel://icmp/nsm-1", { connection: a, id: "a" }); // a refresh keeps the stream
    await until("the NSC's stream at nsmgr", () => streams() >= 1);
    await new Promise((r) => setTimeout(r, 100)); // a second stream, if any, would be open by now
    assert.equal(streams(), 1, "one stream for heal and upstreamrefresh of both connections");

    // nsmgr restarts: the shared stream breaks, heal restores both connections and watches again
    await node.restartNsmgr();
    await until("both connections healed", () => healed.has("a") && healed.has("b"));
    await until("the NSC's stream at the new nsmgr", () => streams() >= 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(streams(), 1, "still one stream after the heal");

    await nsc.close(healed.get("a")!);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(streams(), 1, "b still watches");
    await nsc.close(healed.get("b")!);
    await until("the stream to close with the last connection", () => streams() === 0);
  },
);
