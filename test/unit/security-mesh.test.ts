/**
 * A whole in-process mesh (sandbox: registry, 2 nodes of nsmgr + null forwarder, an NSE, a client)
 * with a process SPIFFE identity: every hop speaks mTLS, every path segment carries a token signed
 * with the SVID and naming the next hop, the authorize elements are on, and Request, refresh and
 * Close work as without security.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { setProcessIdentity } from "../../src/core/index.js";
import { sandbox } from "../../src/sandbox/index.js";
import { issuerSource, newTrustDomain } from "../../src/tools/spiffe/index.js";
import { decodeToken } from "../../src/tools/token/index.js";

test(
  "mesh with SPIFFE identities: mTLS everywhere, SVID-signed chained tokens, authorize on",
  { timeout: 60_000 },
  async (t) => {
    const id = issuerSource(newTrustDomain("nsm.test"), "spiffe://nsm.test/sandbox");
    setProcessIdentity(id);
    t.after(() => {
      setProcessIdentity(undefined);
      id.close();
    });
    const sb = await sandbox({ nodes: 2 });
    t.after(() => sb.close());
    await sb.node(1).endpoint({ name: "nse-1", services: ["icmp"] });
    const nsc = await sb.node(0).client();
    const conn = await nsc.request("kernel://icmp/nsm-1");
    const segs = conn.path!.pathSegments;
    assert.ok(segs.length >= 5, `path through both nodes: ${segs.map((s) => s.name).join(" → ")}`);
    for (const [i, s] of segs.entries()) {
      const c = decodeToken(s.token)!;
      assert.equal(c.sub, "spiffe://nsm.test/sandbox", `segment ${i} (${s.name}) signed with the SVID`);
      if (i + 1 < segs.length)
        assert.deepEqual(c.aud, ["spiffe://nsm.test/sandbox"], `segment ${i} (${s.name}) names the next hop`);
    }
    const again = await nsc.request("kernel://icmp/nsm-1", { connection: conn });
    assert.equal(again.id, conn.id);
    await nsc.close(again);
  },
);
