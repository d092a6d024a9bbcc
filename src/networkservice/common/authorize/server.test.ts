/**
 * authorize over real gRPC with mTLS (SVIDs from a built-in trust domain): every refusal is
 * PermissionDenied naming the rule, and leaves the endpoint's connections as they were.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import { decodeProtectedHeader, SignJWT } from "jose";
import {
  create,
  MonitorScopeSelectorSchema,
  NetworkServiceRequestSchema,
  type Connection,
} from "../../../api/index.js";
import { dial, newCtx, OUTGOING_METADATA, serve, status, type NsmError } from "../../../core/index.js";
import { issuerSource, newTrustDomain, SourceState, type X509Source } from "../../../tools/spiffe/index.js";
import { formatRfc3339Nano, newTokenGenerator } from "../../../tools/token/index.js";
import { client } from "../../chains/client.js";
import { endpoint } from "../../chains/endpoint.js";
import { ChannelPool } from "../dial/pool.js";
import { authorizeMonitor } from "./monitor.js";
import { ConnectionOwners } from "./policies.js";
import { authorizeServer } from "./server.js";

const NSE = "spiffe://nsm.test/nse";

async function sign(key: KeyObject, sub: string, o: { aud?: string; expMs?: number } = {}) {
  const expMs = o.expMs ?? Date.now() + 60_000;
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: "ES256" })
    .setSubject(sub)
    .setExpirationTime(expMs / 1000);
  jwt.setAudience([o.aud ?? NSE]);
  const md = new Metadata();
  md.set("nsm-client-token", await jwt.sign(key));
  md.set("nsm-client-token-expires", formatRfc3339Nano(new Date(expMs)));
  return md;
}

const request = (id: string, segs: { name: string; id: string; token?: string }[] = [{ name: "nsc-b", id }]) =>
  create(NetworkServiceRequestSchema, {
    connection: { id, networkService: "ns", path: { index: segs.length - 1, pathSegments: segs } },
  });

const rule = (name: string) => (e: NsmError) =>
  e.code === status.PERMISSION_DENIED && e.message.includes(`authorization policy check: ${name}:`);

test(
  "authorize: forged, expired, wrong-audience tokens, tampered paths, another client's refresh/Close/Monitor and unknown clients are refused naming the rule",
  { timeout: 30_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "nsm-authz-"));
    const life = new AbortController();
    t.after(() => {
      life.abort();
      rmSync(dir, { recursive: true, force: true });
    });
    const td = newTrustDomain("nsm.test");
    const nseId = issuerSource(td, NSE);
    const aId = issuerSource(td, "spiffe://nsm.test/nsc-a");
    const bId = issuerSource(td, "spiffe://nsm.test/nsc-b");
    const owners = new ConnectionOwners();
    const ep = endpoint({
      name: "nse",
      tokens: await newTokenGenerator({ name: "nse", source: nseId }),
      signal: life.signal,
      authorize: authorizeServer({ owners }),
      authorizeMonitor: authorizeMonitor(owners),
    });
    const srv = await serve([`unix://${join(dir, "nse.sock")}`], ep, { identity: nseId });
    t.after(() => srv.close());
    const url = srv.urls[0]!.href;
    const clientOf = async (name: string, id: X509Source) => {
      const pool = new ChannelPool({ identity: id });
      t.after(() => pool.close());
      const tokens = await newTokenGenerator({ name, source: id });
      return client({ name, signal: life.signal, tokens, connectTo: url, refresh: false, pool });
    };
    const a = await clientOf("nsc-a", aId);
    const connA = await a.request(request("a-1", [{ name: "nsc-a", id: "a-1" }]), newCtx({ timeoutMs: 5000 }));
    assert.deepEqual(
      connA.path!.pathSegments.map((s) => s.name),
      ["nsc-a", "nse"],
    );
    // what a refused call must not change: the connections and their tokens
    const snapshot = () =>
      JSON.stringify([...ep.monitor.connections.values()].map((c) => [c.id, c.path!.pathSegments.map((s) => s.token)]));
    const rawB = dial(url, { identity: bId });
    t.after(() => rawB.close());
    const bKey = bId.svid().key;
    const ctxWith = async (md: Metadata | Promise<Metadata>) =>
      newCtx({ timeoutMs: 5000 }).withValue(OUTGOING_METADATA, await md);
    const sendB = async (
      req = request("b-1"),
      md: Metadata | Promise<Metadata> = sign(bKey, "spiffe://nsm.test/nsc-b"),
    ) => rawB.networkService.request(req, await ctxWith(md));

    // a well-formed call from B works: the rules are not refusing everything
    await sendB(request("b-ok"));
    const before = snapshot();
    // forged: signed by a key that is not B's certificate's
    const forger = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    await assert.rejects(sendB(request("b-1"), sign(forger, "spiffe://nsm.test/nsc-b")), rule("prev_token_signed"));
    // B presenting a token in A's name, even one A signed: not the caller's
    await assert.rejects(
      sendB(request("b-1"), sign(aId.svid().key, "spiffe://nsm.test/nsc-a")),
      rule("prev_token_signed"),
    );
    await assert.rejects(
      sendB(request("b-1"), sign(bKey, "spiffe://nsm.test/nsc-b", { expMs: Date.now() - 1000 })),
      rule("tokens_expired"),
    );
    await assert.rejects(
      sendB(request("b-1"), sign(bKey, "spiffe://nsm.test/nsc-b", { aud: "spiffe://nsm.test/other" })),
      rule("tokens_chained"),
    );
    // tampered path: a segment before B's whose token is not a JWT, or one that does not name B
    await assert.rejects(
      sendB(
        request("b-2", [
          { name: "x", id: "x-1", token: "not-a-jwt" },
          { name: "nsc-b", id: "b-2" },
        ]),
      ),
      rule("tokens_valid"),
    );
    const stale = connA.path!.pathSegments[0]!.token; // A's token: aud = the nse, not B
    await assert.rejects(
      sendB(
        request("b-3", [
          { name: "nsc-a", id: "a-9", token: stale },
          { name: "nsc-b", id: "b-3" },
        ]),
      ),
      rule("tokens_chained"),
    );
    // another client's connection: refresh and Close refused, Monitor refused
    const stolen: Connection = { ...connA, path: { ...connA.path!, index: 0 } };
    await assert.rejects(sendB(create(NetworkServiceRequestSchema, { connection: stolen })), rule("connection_owner"));
    await assert.rejects(
      rawB.networkService.close(stolen, await ctxWith(sign(bKey, "spiffe://nsm.test/nsc-b"))),
      rule("connection_owner"),
    );
    const byId = create(MonitorScopeSelectorSchema, { pathSegments: [{ id: connA.id }] });
    await assert.rejects(
      (async () => {
        for await (const _ of rawB.monitor.monitorConnections(byId, newCtx({ timeoutMs: 5000 }))) break;
      })(),
      rule("service_connection"),
    );
    // A monitors its own connection
    const rawA = dial(url, { identity: aId });
    t.after(() => rawA.close());
    for await (const ev of rawA.monitor.monitorConnections(byId, newCtx({ timeoutMs: 5000 }))) {
      // keyed by the endpoint's own connection id; A's segment is in its path
      const seen = Object.values(ev.connections).map((c) => c.path!.pathSegments[0]!.id);
      assert.deepEqual(seen, [connA.id], "the owner sees its connection, and only it");
      break;
    }
    // clients without a valid SVID do not get through TLS at all
    for (const identity of [null, issuerSource(newTrustDomain("evil.test"), "spiffe://evil.test/nsc-a")]) {
      const c = dial(url, { identity });
      await assert.rejects(
        c.networkService.close(stolen, newCtx({ timeoutMs: 1500 })),
        (e: NsmError) => e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED,
      );
      c.close();
    }
    assert.equal(snapshot(), before, "nothing changed");
    // the owner still refreshes and closes its connection
    await a.request(create(NetworkServiceRequestSchema, { connection: connA }), newCtx({ timeoutMs: 5000 }));
    await a.close(connA, newCtx({ timeoutMs: 5000 }));
    assert.equal(ep.monitor.connections.size, 1, "only B's connection is left");
  },
);

test(
  "authorize after an SVID rotation: refresh and Close over the connection made with the old SVID still pass",
  { timeout: 20_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "nsm-authz-rot-"));
    const life = new AbortController();
    t.after(() => {
      life.abort();
      rmSync(dir, { recursive: true, force: true });
    });
    const td = newTrustDomain("nsm.test");
    const nseId = issuerSource(td, NSE);
    const ep = endpoint({
      name: "nse",
      tokens: await newTokenGenerator({ name: "nse", source: nseId }),
      signal: life.signal,
      authorize: authorizeServer({ identity: nseId }),
      authorizeMonitor: null,
    });
    const srv = await serve([`unix://${join(dir, "nse.sock")}`], ep, { identity: nseId });
    t.after(() => srv.close());
    const aId = new SourceState();
    aId.set(td.issue("spiffe://nsm.test/nsc-a", 60_000), td.bundlePem);
    const pool = new ChannelPool({ identity: aId });
    t.after(() => pool.close());
    const a = client({
      name: "nsc-a",
      signal: life.signal,
      tokens: await newTokenGenerator({ name: "nsc-a", source: aId }),
      connectTo: srv.urls[0]!.href,
      refresh: false,
      pool,
    });
    const conn = await a.request(request("a-1", [{ name: "nsc-a", id: "a-1" }]), newCtx({ timeoutMs: 5000 }));
    aId.set(td.issue("spiffe://nsm.test/nsc-a", 60_000), td.bundlePem); // rotated; the channel stays
    const again = await a.request(
      create(NetworkServiceRequestSchema, { connection: conn }),
      newCtx({ timeoutMs: 5000 }),
    );
    assert.ok(decodeProtectedHeader(again.path!.pathSegments[0]!.token).x5c, "the token proves the new SVID");
    await a.close(again, newCtx({ timeoutMs: 5000 }));
    assert.equal(ep.monitor.connections.size, 0);
    // a chain of another trust domain in x5c proves nothing
    const evil = newTrustDomain("nsm.test").issue("spiffe://nsm.test/nsc-a", 60_000);
    const raw = dial(srv.urls[0]!, { identity: aId });
    t.after(() => raw.close());
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", x5c: [evil.chain[0]!.raw.toString("base64")] })
      .setSubject("spiffe://nsm.test/nsc-a")
      .setAudience([NSE])
      .setExpirationTime(Date.now() / 1000 + 60)
      .sign(evil.key);
    const md = new Metadata();
    md.set("nsm-client-token", jwt);
    md.set("nsm-client-token-expires", formatRfc3339Nano(new Date(Date.now() + 60_000)));
    await assert.rejects(
      raw.networkService.request(
        request("a-2", [{ name: "nsc-a", id: "a-2" }]),
        newCtx({ timeoutMs: 5000 }).withValue(OUTGOING_METADATA, md),
      ),
      (e: NsmError) => rule("prev_token_signed")(e) && /trust bundle/.test(e.message),
    );
  },
);
