/**
 * The Workload API client against a real SPIRE server + agent (v1.13.0, started per file under a
 * temp dir by spire.sh, which scripts/setup.sh installs from ../shared/spire). Skips, saying why,
 * when SPIRE is not installed or we are not root (workloads are attested by uid 0).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chain, dial, INCOMING, newCtx, serve } from "../../core/index.js";
import { checkRequest, newRequest } from "../../core/testing/index.js";
import { workloadApiSource } from "./workloadapi.js";

const SPIRE = process.env.NSM_TEST_SPIRE_SH ?? "/usr/local/lib/nsm-test/spire.sh";
const skip = !existsSync(SPIRE)
  ? `SPIRE not installed (${SPIRE}; scripts/setup.sh installs it from ../shared/spire)`
  : process.getuid?.() !== 0
    ? "needs root (the SPIRE agent attests this process by unix:uid:0)"
    : false;
if (skip) console.log(`# skip workload API tests: ${skip}`);

test("Workload API: SVIDs from SPIRE, rotated under a live mTLS connection", { skip, timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "nsm-spire-"));
  t.after(() => {
    execFileSync(SPIRE, ["stop", dir], { stdio: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  });
  const sock = execFileSync(SPIRE, ["start", dir], {
    env: { ...process.env, SVID_TTL: "10s" },
    encoding: "utf8",
  }).trim();
  for (const id of ["spiffe://nsm.test/nsmgr", "spiffe://nsm.test/nsc"])
    execFileSync(SPIRE, ["entry", dir, id, "unix:uid:0"], { stdio: "inherit" });

  // an entry reaches the agent within ~5 s: the first fetch waits for it
  const srvId = await workloadApiSource({
    socket: `unix://${sock}`,
    spiffeId: "spiffe://nsm.test/nsmgr",
    timeoutMs: 30_000,
  });
  const cliId = await workloadApiSource({
    socket: `unix://${sock}`,
    spiffeId: "spiffe://nsm.test/nsc",
    timeoutMs: 30_000,
  });
  t.after(() => {
    srvId.close();
    cliId.close();
  });
  assert.equal(srvId.svid().id, "spiffe://nsm.test/nsmgr");
  assert.match(srvId.bundlePem(), /BEGIN CERTIFICATE/);

  const ns = chain(
    {
      async request(req, ctx, next) {
        req.connection!.labels["serial"] = ctx.get(INCOMING)?.peerCertificate?.serialNumber ?? "";
        return next.request(req, ctx);
      },
      close: (c, ctx, next) => next.close(c, ctx),
    },
    checkRequest(() => {}),
  );
  const srv = await serve([`unix://${join(dir, "nsmgr.sock")}`], { networkService: ns }, { identity: srvId });
  const live = dial(srv.urls[0]!, { identity: cliId });
  t.after(async () => {
    live.close();
    await srv.close();
  });
  // every SVID the agent gave us (a 10 s SVID may rotate at any moment, also during this test's steps)
  const serial = () => cliId.svid().chain[0]!.serialNumber;
  const seen = new Set([serial()]);
  cliId.onChange(() => seen.add(serial()));
  const first = await live.networkService.request(newRequest("c1"), newCtx({ timeoutMs: 5000 }));
  assert.equal(live.peerId(), "spiffe://nsm.test/nsmgr");
  const serial0 = first.labels["serial"]!;
  assert.ok(seen.has(serial0), "the server saw one of our SVIDs");

  // the agent rotates a 10 s SVID after about half its life
  const end = Date.now() + 40_000;
  while (serial() === serial0) {
    if (Date.now() > end) throw new Error("no rotation within 40 s");
    await new Promise((r) => setTimeout(r, 200));
  }
  // the live connection keeps working; a new handshake presents a rotated SVID
  await live.networkService.request(newRequest("c1"), newCtx({ timeoutMs: 5000 }));
  const fresh = dial(srv.urls[0]!, { identity: cliId });
  const again = await fresh.networkService.request(newRequest("c2"), newCtx({ timeoutMs: 5000 }));
  assert.notEqual(again.labels["serial"], serial0);
  assert.ok(seen.has(again.labels["serial"]!), "a rotated SVID from the agent");
  fresh.close();
});

test("Workload API: a socket nobody serves fails with the socket named", { timeout: 10_000 }, async () => {
  await assert.rejects(
    workloadApiSource({ socket: "unix:///nonexistent/agent.sock", timeoutMs: 500 }),
    /no X.509 SVID from the SPIFFE Workload API at unix:\/\/\/nonexistent\/agent.sock within 500 ms/,
  );
});
