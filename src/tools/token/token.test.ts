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
import { mockClock } from "../../core/testing/clock.js";

test(
  "tokens: ES256 JWT with sub and exp = now + lifetime, verifiable, reused briefly",
  { timeout: 5000 },
  async (t) => {
    const clock = mockClock(t);
    const g = await newTokenGenerator({ name: "nsmgr", maxLifetimeMs: 2000 }); // reused for 100 ms
    const tok = await g();
    const claims = decodeToken(tok.token)!;
    assert.equal(claims.sub, "spiffe://nsm-ts.local/nsmgr");
    assert.equal(tok.expires.getTime(), clock.now() + 2000);
    assert.equal(claims.exp! * 1000, tok.expires.getTime());
    assert.equal((await g.verify(tok.token)).sub, g.subject);
    await clock.advance(99);
    assert.equal((await g()).token, tok.token, "reused within the reuse window");
    await clock.advance(1);
    const next = await g();
    assert.notEqual(next.token, tok.token, "signed anew after the reuse window");
    assert.equal(next.expires.getTime(), clock.now() + 2000);
    const other = await newTokenGenerator({ name: "x" });
    await assert.rejects(other.verify(tok.token));
  },
);

test("tokens expire: verify accepts a token until exp and refuses it after", { timeout: 5000 }, async (t) => {
  const clock = mockClock(t);
  const g = await newTokenGenerator({ name: "nsc", maxLifetimeMs: 60_000 });
  const tok = await g();
  await clock.advance(59_999);
  assert.equal((await g.verify(tok.token)).sub, g.subject);
  await clock.advance(1);
  await assert.rejects(g.verify(tok.token), { code: "ERR_JWT_EXPIRED" });
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

test(
  "SVID tokens: ES256 with the SVID key, sub = our SPIFFE ID, aud = the peer, exp bounded by both certificates",
  { timeout: 5000 },
  async () => {
    const { newTrustDomain, issuerSource } = await import("../spiffe/index.js");
    const { verifyWithCertificate } = await import("./token.js");
    const src = issuerSource(newTrustDomain("nsm.test"), "spiffe://nsm.test/nsmgr", { ttlMs: 30_000 });
    const g = await newTokenGenerator({ name: "ignored", maxLifetimeMs: 600_000, source: src });
    const t = await g("spiffe://nsm.test/forwarder");
    const c = decodeToken(t.token)!;
    assert.equal(c.sub, "spiffe://nsm.test/nsmgr");
    assert.deepEqual(c.aud, ["spiffe://nsm.test/forwarder"]);
    assert.ok(t.expires.getTime() <= src.svid().notAfter.getTime(), "not past our certificate");
    assert.equal((await verifyWithCertificate(t.token, src.svid().chain[0]!)).sub, "spiffe://nsm.test/nsmgr");
    const peerEnd = new Date(Date.now() + 5000);
    assert.ok(
      (await g("spiffe://nsm.test/x", { peerNotAfter: peerEnd })).expires.getTime() <= peerEnd.getTime(),
      "not past the peer's",
    );
    src.close();
  },
);
