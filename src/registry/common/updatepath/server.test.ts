/** The registry path over real gRPC with mTLS: tokens, path header and path ids as upstream's. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, NetworkServiceEndpointSchema } from "../../../api/index.js";
import { dial, newCtx, serve, setProcessIdentity } from "../../../core/index.js";
import { issuerSource, newTrustDomain } from "../../../tools/spiffe/index.js";
import { decodeToken, newTokenGenerator } from "../../../tools/token/index.js";
import { createRegistry } from "../../chains/registry.js";
import { pathTokensRemote } from "./remote.js";
import { REGISTRY_PATH, updatePath, type RegistryPath } from "./server.js";

test("updatePath: first call, next hop, refresh, a bad index", () => {
  const p: RegistryPath = { Index: 0, PathSegments: null };
  assert.equal(updatePath(p, "a", "b"), 0);
  assert.deepEqual(p, { Index: 1, PathSegments: [{ token: "a" }, { token: "b" }] });
  assert.equal(updatePath(p, "b2", "c"), 1, "the next hop appends");
  assert.deepEqual(p.PathSegments, [{ token: "a" }, { token: "b2" }, { token: "c" }]);
  p.Index = 1;
  assert.equal(updatePath(p, "b3", "c2"), 1, "a refresh replaces");
  assert.deepEqual(p.PathSegments, [{ token: "a" }, { token: "b3" }, { token: "c2" }]);
  assert.throws(() => updatePath({ Index: 5, PathSegments: [{ token: "x" }] }, "a", "b"), /Index\+1 = 6/);
});

test("registry path over mTLS: the caller's and the registry's tokens chained, path ids stored", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "nsm-regpath-"));
  const life = new AbortController();
  const td = newTrustDomain("nsm.test");
  const regId = issuerSource(td, "spiffe://nsm.test/registry");
  setProcessIdentity(regId);
  t.after(() => {
    setProcessIdentity(undefined);
    regId.close();
    life.abort();
    rmSync(dir, { recursive: true, force: true });
  });
  const reg = await createRegistry({ signal: life.signal });
  t.after(() => reg.close());
  const srv = await serve([`unix://${join(dir, "reg.sock")}`], { nseRegistry: reg.nse, nsRegistry: reg.ns });
  t.after(() => srv.close());
  const nseId = issuerSource(td, "spiffe://nsm.test/nse-a");
  const conn = dial(srv.urls[0]!, { identity: nseId });
  t.after(() => {
    conn.close();
    nseId.close();
  });
  const tokens = newTokenGenerator({ name: "nse-a", source: nseId });
  const client = pathTokensRemote(conn.nseRegistry, conn, () => tokens);
  const path: RegistryPath = { Index: 0, PathSegments: [] };
  const nse = create(NetworkServiceEndpointSchema, {
    name: "nse-a",
    networkServiceNames: ["icmp"],
    url: "tcp://1.2.3.4:5",
  });
  const res = await client.register(nse, newCtx({ timeoutMs: 5000 }).withValue(REGISTRY_PATH, path));
  assert.deepEqual(res.pathIds, ["spiffe://nsm.test/nse-a", "spiffe://nsm.test/registry"]);
  assert.equal(path.Index, 0, "the header gave our index back");
  const claims = (path.PathSegments ?? []).map((s) => decodeToken(s.token));
  assert.deepEqual(
    claims.map((c) => [c?.sub, c?.aud]),
    [
      ["spiffe://nsm.test/nse-a", ["spiffe://nsm.test/registry"]],
      ["spiffe://nsm.test/registry", ["spiffe://nsm.test/nse-a"]],
    ],
  );
  await client.unregister(res, newCtx({ timeoutMs: 5000 }));
});
