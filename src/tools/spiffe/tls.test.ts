import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chain, dial, INCOMING, newCtx, serve, status, type NsmError } from "../../core/index.js";
import { checkRequest, newRequest } from "../../core/testing/index.js";
import { issuerSource, newTrustDomain } from "./issuer.js";
import { makeSvid, SourceState, spiffeIdOf, type X509Source } from "./svid.js";

/** a server that labels each connection with the caller's SPIFFE ID and certificate serial */
async function echo(url: string, identity: X509Source | null) {
  const ns = chain(
    {
      async request(req, ctx, next) {
        const cert = ctx.get(INCOMING)?.peerCertificate;
        req.connection!.labels["peer"] = cert?.raw ? (spiffeIdOf(cert.raw) ?? "none") : "plaintext";
        req.connection!.labels["serial"] = cert?.serialNumber ?? "";
        return next.request(req, ctx);
      },
      close: (c, ctx, next) => next.close(c, ctx),
    },
    checkRequest(() => {}),
  );
  return serve([url], { networkService: ns }, { identity });
}

test(
  "mTLS: SVIDs of one trust domain talk, the peers' SPIFFE IDs are known on both sides",
  { timeout: 20_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "nsm-tls-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const td = newTrustDomain("nsm.test");
    const srvId = issuerSource(td, "spiffe://nsm.test/nsmgr");
    const cliId = issuerSource(td, "spiffe://nsm.test/nsc");
    for (const url of [`unix://${join(dir, "s.sock")}`, "tcp://127.0.0.1:0"]) {
      const srv = await echo(url, srvId);
      const conn = dial(srv.urls[0]!, { identity: cliId });
      try {
        const c = await conn.networkService.request(newRequest("a"), newCtx({ timeoutMs: 5000 }));
        assert.equal(c.labels["peer"], "spiffe://nsm.test/nsc", url);
        assert.equal(conn.peerId(), "spiffe://nsm.test/nsmgr");
        assert.ok(conn.secure);
      } finally {
        conn.close();
        await srv.close();
      }
    }
  },
);

test(
  "mTLS refuses a client of another trust domain, a plaintext client and a client without an SVID",
  { timeout: 20_000 },
  async () => {
    const td = newTrustDomain("nsm.test");
    const srv = await echo("tcp://127.0.0.1:0", issuerSource(td, "spiffe://nsm.test/nsmgr"));
    try {
      const other = issuerSource(newTrustDomain("evil.test"), "spiffe://evil.test/nsc");
      for (const [what, conn] of [
        ["other trust domain", dial(srv.urls[0]!, { identity: other })],
        ["plaintext", dial(srv.urls[0]!, { identity: null })],
      ] as const) {
        await assert.rejects(
          conn.networkService.request(newRequest("x"), newCtx({ timeoutMs: 1500 })),
          (e: NsmError) => e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED,
          what,
        );
        conn.close();
      }
      // a server of another trust domain is refused by our client too
      const evilSrv = await echo(
        "tcp://127.0.0.1:0",
        issuerSource(newTrustDomain("evil.test"), "spiffe://evil.test/x"),
      );
      const c = dial(evilSrv.urls[0]!, { identity: issuerSource(td, "spiffe://nsm.test/nsc") });
      await assert.rejects(c.networkService.request(newRequest("y"), newCtx({ timeoutMs: 1500 })));
      assert.equal(c.peerId(), undefined);
      c.close();
      await evilSrv.close();
    } finally {
      await srv.close();
    }
  },
);

test(
  "mTLS rotation: a rotated SVID is used by new handshakes without restarting the server",
  { timeout: 20_000 },
  async () => {
    const td = newTrustDomain("nsm.test");
    const srvId = issuerSource(td, "spiffe://nsm.test/nsmgr");
    const cli = new SourceState();
    const issue = () => td.issue("spiffe://nsm.test/nsc", 60_000);
    cli.set(issue(), td.bundlePem);
    const srv = await echo("tcp://127.0.0.1:0", srvId);
    try {
      const first = dial(srv.urls[0]!, { identity: cli });
      const a = await first.networkService.request(newRequest("a"), newCtx({ timeoutMs: 5000 }));
      const next = issue();
      cli.set(next, td.bundlePem);
      // the live channel keeps working on its connection
      await first.networkService.request(newRequest("a2"), newCtx({ timeoutMs: 5000 }));
      const second = dial(srv.urls[0]!, { identity: cli });
      const b = await second.networkService.request(newRequest("b"), newCtx({ timeoutMs: 5000 }));
      assert.notEqual(a.labels["serial"], b.labels["serial"]);
      assert.equal(b.labels["serial"], next.chain[0]!.serialNumber);
      first.close();
      second.close();
    } finally {
      await srv.close();
    }
  },
);

test("makeSvid refuses a key that does not match and a leaf without a SPIFFE ID", () => {
  const td = newTrustDomain("nsm.test");
  const a = td.issue("spiffe://nsm.test/a", 60_000);
  const b = td.issue("spiffe://nsm.test/b", 60_000);
  assert.throws(() => makeSvid([a.chain[0]!.raw], b.keyPem), /key does not match/);
  assert.throws(() => makeSvid([td.certDer], a.keyPem), /key does not match|spiffe/);
  assert.equal(spiffeIdOf(new X509Certificate(td.certDer)), "spiffe://nsm.test");
});

test(
  "an expired trust bundle fails closed: no handshake with certificates under an expired CA",
  { timeout: 20_000 },
  async () => {
    const td = newTrustDomain("nsm.test", 1500); // the CA expires in 1.5 s
    const srvId = new SourceState();
    srvId.set(td.issue("spiffe://nsm.test/nsmgr", 60_000), td.bundlePem);
    const cliId = new SourceState();
    cliId.set(td.issue("spiffe://nsm.test/nsc", 60_000), td.bundlePem);
    const srv = await echo("tcp://127.0.0.1:0", srvId);
    try {
      const before = dial(srv.urls[0]!, { identity: cliId });
      await before.networkService.request(newRequest("a"), newCtx({ timeoutMs: 5000 }));
      before.close();
      await new Promise((r) => setTimeout(r, 1600));
      const after = dial(srv.urls[0]!, { identity: cliId });
      await assert.rejects(
        after.networkService.request(newRequest("b"), newCtx({ timeoutMs: 1500 })),
        (e: NsmError) => e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED,
      );
      after.close();
    } finally {
      await srv.close();
    }
  },
);
