// Interop with upstream NSM (sdk v1.13.2, test/interop/peer -spiffe) with security on, as deployed:
// every process gets its X.509 SVID from one real SPIRE agent (started once for this file), gRPC is
// mTLS (upstream: go-spiffe tlsconfig + grpcfd), path tokens are ES256 JWTs signed with the SVIDs,
// and both sides run their default authorize policies (upstream's embedded Rego; ours). Skips,
// saying why, without Go, SPIRE or root (the agent attests workloads by unix:uid:0).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newCtx, setProcessIdentity } from "../../src/core/index.js";
import { nullBackend } from "../../src/forwarder/backends/null/index.js";
import { workloadApiSource, type X509Source } from "../../src/tools/spiffe/index.js";
import { decodeToken } from "../../src/tools/token/index.js";
import { closeGoNsc, firstConn, goShortNsc, ourNsmgr, rig, skip as goSkip, sleep, underGoNsmgr } from "./rig.js";

const SPIRE = process.env.NSM_TEST_SPIRE_SH ?? "/usr/local/lib/nsm-test/spire.sh";
const skip =
  goSkip ||
  (!existsSync(SPIRE)
    ? `SPIRE not installed (${SPIRE}; scripts/setup.sh installs it from ../shared/spire)`
    : process.getuid?.() !== 0
      ? "needs root (the SPIRE agent attests workloads by unix:uid:0)"
      : false);
if (skip) console.log(`# skip SPIRE interop tests: ${skip}`);

const TD = "nsm.test";
const OURS = `spiffe://${TD}/ns/nsm-system/sa/nsm-ts`;
const id = (n: string) => `spiffe://${TD}/ns/default/sa/${n}`;
let dir = "";
let sock = "";
let ours: X509Source | undefined;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "t-spire-interop-"));
  sock = execFileSync(SPIRE, ["start", dir, TD], { encoding: "utf8" }).trim();
  // every workload here runs as root: each process picks its SVID by SPIFFE ID among those the agent gives
  for (const x of [OURS, id("nsc-go"), id("nse-go"), id("nsmgr-go"), id("registry-go")])
    execFileSync(SPIRE, ["entry", dir, x, "unix:uid:0"]);
  ours = await workloadApiSource({ socket: `unix://${sock}`, spiffeId: OURS, timeoutMs: 30_000 });
  setProcessIdentity(ours);
});

after(() => {
  if (!dir) return;
  setProcessIdentity(undefined);
  ours?.close();
  execFileSync(SPIRE, ["stop", dir], { stdio: "ignore" });
  rmSync(dir, { recursive: true, force: true });
});

const spiffe = (name: string) => ["-spiffe", "-spiffe-id", id(name)];
const env = () => ({ SPIFFE_ENDPOINT_SOCKET: `unix://${sock}` });

test(
  "mTLS + SVID tokens: upstream NSC → our nsmgr → our forwarder → upstream NSE, upstream's default policies; refresh, Close",
  { skip, timeout: 90_000 },
  async (t) => {
    const r = rig(t);
    const { mgr, backend } = await ourNsmgr(r, { base: r.short, backend: nullBackend() });
    const nse = r.go(
      ["-mode", "nse", "-name", "nse-go", "-connect-to", mgr.url, "-cidr", "172.16.21.0/24", ...spiffe("nse-go")],
      { env: env() },
    );
    await nse.line(/^READY/, 30_000);
    const nsc = goShortNsc(r, mgr.url, { args: spiffe("nsc-go"), env: env() });
    const c = await firstConn(nsc, 30_000);
    const segs = c.path.pathSegments.map((s) => ({
      name: s.name,
      ...decodeToken(s.token)!,
    }));
    assert.deepEqual(
      segs.map((s) => [s.name, s.sub, s.aud]),
      [
        ["nsc-go", id("nsc-go"), [OURS]],
        ["nsmgr", OURS, [OURS]],
        ["fwd", OURS, [id("nse-go")]],
        ["nse-go", id("nse-go"), [OURS]],
      ],
    );
    await sleep(7000);
    assert.equal(backend.crossConnects.size, 1, "refreshed with 3 s tokens for two lifetimes");
    await closeGoNsc(nsc, backend);
  },
);

test(
  "mTLS + SVID tokens: our NSC → upstream nsmgr (upstream registry) → our forwarder → our NSE, upstream's default policies everywhere; refresh, Close",
  { skip, timeout: 90_000 },
  async (t) => {
    const r = rig(t);
    const { backend, request } = await underGoNsmgr(r, {
      // registrations with upstream's default lifetime: upstream caps an entry's expiry at the registering token's
      base: r.common,
      service: "icmp",
      cidr: "172.16.22.0/24",
      peerArgs: spiffe,
      env: env(),
    });
    const { nsc, c } = await request();
    const segs = c.path!.pathSegments.map((s) => ({ name: s.name, ...decodeToken(s.token)! }));
    assert.deepEqual(
      segs.map((s) => [s.name, s.sub, s.aud]),
      [
        ["nsc-ts", OURS, [id("nsmgr-go")]],
        ["nsmgr-go", id("nsmgr-go"), [OURS]],
        ["fwd", OURS, [OURS]],
        // the last hop's own token names nobody (upstream's names its caller; no policy reads it)
        ["nse-ts", OURS, undefined],
      ],
    );
    await sleep(7000);
    assert.equal(backend.crossConnects.size, 1, "refreshed with 3 s tokens through upstream's nsmgr");
    await nsc.client.close(c, newCtx({ timeoutMs: 5000 }));
    assert.equal(backend.crossConnects.size, 0);
  },
);
