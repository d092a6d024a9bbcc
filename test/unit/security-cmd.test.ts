/**
 * The commands' security start-up: an SVID from files makes the process mTLS (said at start), a
 * configured Workload API that does not answer or a policy that does not load stops the command
 * with the reason, naming the variable.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newTrustDomain } from "../../src/tools/spiffe/index.js";

const BIN = new URL("../../bin/nsm.mjs", import.meta.url).pathname;
const nsm = (env: Record<string, string>, timeout = 15_000) =>
  spawnSync(process.execPath, [BIN, "registry"], {
    env: { ...process.env, NSM_LOG_FORMAT: "json", ...env },
    encoding: "utf8",
    timeout,
    killSignal: "SIGTERM",
  });

test(
  "nsm registry: SVID files → mTLS said at start; a dead Workload API or a missing policy stops it",
  { timeout: 60_000 },
  (t) => {
    const dir = mkdtempSync(join(tmpdir(), "nsm-sec-cmd-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const td = newTrustDomain("nsm.test");
    const s = td.issue("spiffe://nsm.test/registry", 600_000);
    writeFileSync(join(dir, "svid.pem"), s.certPem);
    writeFileSync(join(dir, "key.pem"), s.keyPem);
    writeFileSync(join(dir, "bundle.pem"), td.bundlePem);
    const listen = { NSM_LISTEN_ON: `unix://${join(dir, "r.sock")}` };

    const ok = nsm(
      {
        ...listen,
        NSM_SVID_CERT: join(dir, "svid.pem"),
        NSM_SVID_KEY: join(dir, "key.pem"),
        NSM_SVID_BUNDLE: join(dir, "bundle.pem"),
      },
      4000,
    );
    assert.match(ok.stdout + ok.stderr, /"spiffeId":"spiffe:\/\/nsm.test\/registry".*mTLS with SPIFFE identity/);

    const dead = nsm({
      ...listen,
      SPIFFE_ENDPOINT_SOCKET: `unix://${join(dir, "agent.sock")}`,
      NSM_SVID_TIMEOUT: "300ms",
    });
    assert.equal(dead.status, 1);
    assert.match(dead.stderr, /no X.509 SVID from the SPIFFE Workload API at unix:\/\/.*agent.sock within 300 ms/);

    const half = nsm({ ...listen, NSM_SVID_CERT: join(dir, "svid.pem") });
    assert.equal(half.status, 1);
    assert.match(half.stderr, /NSM_SVID_KEY.*go together/);

    const policy = nsm({ ...listen, NSM_REGISTRY_SERVER_POLICIES: join(dir, "none.rego") });
    assert.notEqual(policy.status, 0);
    assert.match(policy.stdout + policy.stderr, /NSM_REGISTRY_SERVER_POLICIES=".*none.rego": names no .rego file/);
  },
);
