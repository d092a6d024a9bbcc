import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, NetworkServiceRequestSchema } from "../../../api/index.js";
import { newCtx, serve, status, type NsmError } from "../../../core/index.js";
import { issuerSource, newTrustDomain, SourceState, type X509Source } from "../../../tools/spiffe/index.js";
import { newTokenGenerator } from "../../../tools/token/index.js";
import { client } from "../../chains/client.js";
import { endpoint } from "../../chains/endpoint.js";
import { ChannelPool } from "../dial/pool.js";
import { authorizeClient } from "./client.js";

test(
  "authorizeClient: a returned path whose next token the server did not sign is refused (next_token_signed) and closed",
  { timeout: 20_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "nsm-authz-cli-"));
    const life = new AbortController();
    t.after(() => {
      life.abort();
      rmSync(dir, { recursive: true, force: true });
    });
    const td = newTrustDomain("nsm.test");
    const NSE = "spiffe://nsm.test/nse";
    const nseTls = issuerSource(td, NSE);
    // the server signs its tokens with another SVID of its name: not the certificate it shows
    const other = new SourceState();
    other.set(td.issue(NSE, 60_000), td.bundlePem);
    const mk = async (tokens: X509Source) => {
      const ep = endpoint({
        name: "nse",
        tokens: await newTokenGenerator({ name: "nse", source: tokens }),
        signal: life.signal,
        authorize: null,
        authorizeMonitor: null,
      });
      const srv = await serve([`unix://${join(dir, `${Math.random()}.sock`)}`], ep, { identity: nseTls });
      t.after(() => srv.close());
      return { ep, url: srv.urls[0]!.href };
    };
    const aId = issuerSource(td, "spiffe://nsm.test/nsc-a");
    const clientOf = async (url: string) => {
      const pool = new ChannelPool({ identity: aId });
      t.after(() => pool.close());
      return client({
        name: "nsc-a",
        signal: life.signal,
        tokens: await newTokenGenerator({ name: "nsc-a", source: aId }),
        connectTo: url,
        refresh: false,
        pool,
        authorize: authorizeClient({ identity: aId }),
      });
    };
    const req = () =>
      create(NetworkServiceRequestSchema, {
        connection: {
          id: "a-1",
          networkService: "ns",
          path: { index: 0, pathSegments: [{ name: "nsc-a", id: "a-1" }] },
        },
      });

    const good = await mk(nseTls);
    const ok = await (await clientOf(good.url)).request(req(), newCtx({ timeoutMs: 5000 }));
    assert.equal(ok.path!.pathSegments.length, 2);

    const bad = await mk(other);
    await assert.rejects(
      (await clientOf(bad.url)).request(req(), newCtx({ timeoutMs: 5000 })),
      (e: NsmError) => e.code === status.PERMISSION_DENIED && /next_token_signed/.test(e.message),
    );
    assert.equal(bad.ep.monitor.connections.size, 0, "the refused connection was closed");
  },
);
