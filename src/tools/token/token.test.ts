import { test } from "node:test";
import assert from "node:assert/strict";
import { Metadata } from "@grpc/grpc-js";
import {
  decodeToken,
  formatRfc3339Nano,
  incomingToken,
  newTokenGenerator,
  parseRfc3339Nano,
  tokenMetadata,
} from "./token.js";

test("tokens: ES256 JWT with sub and exp = now + lifetime, verifiable, reused briefly", { timeout: 5000 }, async () => {
  const g = await newTokenGenerator({ name: "nsmgr", maxLifetimeMs: 2000 });
  const t = await g();
  const claims = decodeToken(t.token)!;
  assert.equal(claims.sub, "spiffe://nsm-ts.local/nsmgr");
  assert.ok(Math.abs(claims.exp! * 1000 - t.expires.getTime()) < 1);
  assert.ok(Math.abs(t.expires.getTime() - Date.now() - 2000) < 200);
  assert.equal((await g.verify(t.token)).sub, g.subject);
  assert.equal((await g()).token, t.token, "reused within the reuse window");
  const other = await newTokenGenerator({ name: "x" });
  await assert.rejects(other.verify(t.token));
});

test("token metadata round-trips as nsm-client-token / RFC 3339 nano expiry", { timeout: 5000 }, async () => {
  assert.equal(formatRfc3339Nano(new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 120))), "2025-01-02T03:04:05.12Z");
  assert.equal(formatRfc3339Nano(new Date(Date.UTC(2025, 0, 2, 3, 4, 5))), "2025-01-02T03:04:05Z");
  assert.equal(parseRfc3339Nano("2025-01-02T03:04:05.123456789Z")!.getTime(), Date.UTC(2025, 0, 2, 3, 4, 5, 123));
  const g = await newTokenGenerator({ name: "nsc" });
  const t = await g();
  const md = tokenMetadata(t);
  assert.deepEqual(incomingToken(md), { token: t.token, expires: new Date(Math.floor(t.expires.getTime())) });
  md.add("nsm-client-token", "second");
  assert.equal(incomingToken(md), undefined, "exactly one value required");
  assert.equal(incomingToken(new Metadata()), undefined);
});
