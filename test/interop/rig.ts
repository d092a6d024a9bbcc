// Shared by the interop tests: the upstream peer per test, a temp dir with unix sockets, cleanup.
import { type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newCtx } from "../../src/core/index.js";
import type { DatapathBackend } from "../../src/forwarder/backend.js";
import { nullBackend } from "../../src/forwarder/backends/null/index.js";
import {
  createClient,
  createEndpoint,
  createForwarder,
  createNsmgr,
  type NsmgrConfig,
} from "../../src/networkservice/components.js";
import { parseNsUrl, requestFromNsUrl } from "../../src/networkservice/utils/nsurl.js";
import { inodeLookups } from "../../src/tools/grpcfd/inode.js";
import { goAvailable, peerBinary, startPeer, type Peer } from "./peer.js";

export const skip = !goAvailable() && "go is not installed (the upstream test peer is built with it)";
let bin: string | undefined;
const peer = () => (bin ??= peerBinary());

export const ident = (p: string) => {
  const st = statSync(p, { bigint: true });
  return `${st.dev}:${st.ino}`;
};
export const sleep = (ms: number): Promise<unknown> => new Promise((r) => setTimeout(r, ms));

export interface Rig {
  readonly dir: string;
  sock(name: string): string;
  readonly common: { signal: AbortSignal; dialTimeoutMs: number };
  /** 3 s tokens: refresh must work; request budgets (timeout closes at expiry − budget) stay at 1 s */
  readonly short: { signal: AbortSignal; dialTimeoutMs: number; maxTokenLifetimeMs: number };
  defer(fn: () => unknown): void;
  /** an upstream peer for this test (stopped at its end) */
  go(args: string[], o?: { netns?: string; env?: Record<string, string> }): Peer;
}

export function rig(t: TestContext): Rig {
  const dir = mkdtempSync(join(tmpdir(), "t-interop-"));
  // every pairing runs on unix sockets: inode:// must always come with its fd, never by lookup
  const lookupsBefore = inodeLookups();
  t.after(() => assert.equal(inodeLookups() - lookupsBefore, 0, "an inode:// URL was resolved by lookup"));
  const life = new AbortController();
  const stack: (() => unknown)[] = [];
  t.after(async () => {
    life.abort();
    const errors: unknown[] = [];
    for (const fn of stack.reverse())
      await Promise.resolve()
        .then(fn)
        .catch((e: unknown) => errors.push(e));
    rmSync(dir, { recursive: true, force: true });
    if (errors.length) throw new AggregateError(errors, "interop cleanup");
  });
  return {
    dir,
    sock: (n: string) => `unix://${join(dir, `${n}.sock`)}`,
    common: { signal: life.signal, dialTimeoutMs: 2000 },
    short: { signal: life.signal, dialTimeoutMs: 2000, maxTokenLifetimeMs: 3000 },
    defer: (fn: () => unknown) => void stack.push(fn),
    go(args: string[], o: { netns?: string; env?: Record<string, string> } = {}): Peer {
      const p = startPeer(peer(), args, o);
      stack.push(() => p.stop());
      return p;
    },
  };
}

export const conn = (line: string) =>
  JSON.parse(line.slice("CONN ".length)) as {
    id: string;
    networkServiceEndpointName?: string;
    path: { pathSegments: { name: string; token: string }[] };
    mechanism?: { parameters?: Record<string, string> };
    context?: { ipContext?: { srcIpAddrs?: string[]; dstIpAddrs?: string[] } };
  };

/** The first CONN line of an upstream NSC; fails the test with the peer's stderr on an ERROR line. */
export const firstConn = async (nsc: Peer, ms = 20_000, from = 0) =>
  conn(
    await nsc
      .line(/^(CONN|ERROR)/, ms, from)
      .then((l) => (l.startsWith("ERROR") ? assert.fail(`${l}\n${nsc.stderr}`) : l)),
  );

type Base = Rig["common"] | Rig["short"];

/**
 * Pairing "upstream NSC/NSE under our nsmgr": our nsmgr on `nsmgr.sock` and our forwarder `fwd`
 * registered with it, both closed at the test's end (forwarder first). `restartNsmgr` closes the
 * nsmgr and starts it again with the same options on the same socket.
 */
export async function ourNsmgr<B extends DatapathBackend>(
  r: Rig,
  o: { base: Base; backend: B; nsmgr?: Partial<NsmgrConfig>; afterForwarderClose?: () => unknown },
) {
  const start = () => createNsmgr({ ...o.base, name: "nsmgr", listenOn: [r.sock("nsmgr")], ...o.nsmgr });
  const mesh = {
    mgr: await start(),
    backend: o.backend,
    fwd: undefined as unknown as Awaited<ReturnType<typeof createForwarder>>,
    async restartNsmgr() {
      await mesh.mgr.close();
      mesh.mgr = await start();
    },
  };
  r.defer(() => mesh.mgr.close());
  mesh.fwd = await createForwarder({
    ...o.base,
    name: "fwd",
    listenOn: [r.sock("fwd")],
    nsmgrUrl: mesh.mgr.url,
    backend: o.backend,
  });
  r.defer(async () => {
    await mesh.fwd.close();
    await o.afterForwarderClose?.();
  });
  return mesh;
}

/**
 * Pairing "ours under upstream's nsmgr": upstream's nsmgr `nsmgr-go` on `nsmgr-go.sock`, with
 * upstream's registry (`registry.sock`) unless `registryUrl` names one; `peerArgs(name)` adds
 * arguments per peer (SPIFFE), `env` their environment. Then our forwarder `fwd` (null datapath)
 * and our NSE `nse-ts` offering `service` from `cidr`, registered through it.
 */
export async function underGoNsmgr(
  r: Rig,
  o: {
    base: Base;
    service: string;
    cidr: string;
    registryUrl?: string;
    peerArgs?: (name: string) => string[];
    env?: Record<string, string>;
  },
) {
  const extra = o.peerArgs ?? (() => []);
  let registryUrl = o.registryUrl;
  if (!registryUrl) {
    const reg = r.go(["-mode", "registry", "-listen", r.sock("registry"), ...extra("registry-go")], { env: o.env });
    await reg.line(/^READY/, 30_000);
    registryUrl = r.sock("registry");
  }
  const url = r.sock("nsmgr-go");
  const mgr = r.go(
    ["-mode", "nsmgr", "-name", "nsmgr-go", "-listen", url, "-registry-url", registryUrl, ...extra("nsmgr-go")],
    { env: o.env },
  );
  await mgr.line(/^READY/, 30_000);
  const backend = nullBackend();
  const fwd = await createForwarder({ ...o.base, name: "fwd", listenOn: [r.sock("fwd")], nsmgrUrl: url, backend });
  r.defer(() => fwd.close());
  const nse = await createEndpoint({
    ...o.base,
    name: "nse-ts",
    listenOn: [r.sock("nse")],
    nsmgrUrl: url,
    services: [o.service],
    cidrs: [o.cidr],
  });
  r.defer(() => nse.close());
  return {
    url,
    mgr,
    backend,
    /** our NSC `nsc-ts` (3 s tokens, no heal) requests kernel://<service>/nsm-1 within 1 s, below the token lifetime */
    async request() {
      const nsc = await createClient({ ...r.short, name: "nsc-ts", nsmgrUrl: url, heal: false });
      r.defer(() => nsc.close());
      const req = requestFromNsUrl(parseNsUrl(`kernel://${o.service}/nsm-1`), "nsc-ts-0");
      const c = await nsc.client.request(req, newCtx({ timeoutMs: 1000 })).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}; upstream nsmgr said: ${mgr.stderr.slice(-3000)}`, { cause: e });
      });
      return { nsc, c };
    },
  };
}

/** An upstream NSC `nsc-go` at `url` with 3 s tokens (refresh must work) and 1 s request budgets. */
export const goShortNsc = (r: Rig, url: string, o: { args?: string[]; env?: Record<string, string> } = {}) =>
  r.go(
    [
      "-mode",
      "nsc",
      "-name",
      "nsc-go",
      "-connect-to",
      url,
      "-token-lifetime",
      "3s",
      "-request-timeout",
      "1s",
      ...(o.args ?? []),
    ],
    { env: o.env },
  );

/**
 * The upstream NSC's Close: it says CLOSED (within `maxMs` when given) and the forwarder's cross
 * connect goes; first, that it reported no error (e.g. a failed refresh) until now.
 */
export async function closeGoNsc(nsc: Peer, backend: { crossConnects: ReadonlyMap<unknown, unknown> }, maxMs?: number) {
  assert.ok(!nsc.lines.some((l) => l.startsWith("ERROR")), nsc.lines.join("\n"));
  const from = nsc.lines.length;
  nsc.send("close");
  const closed = await nsc.line(/^(CLOSED|ERROR)/, 15_000, from);
  assert.match(closed, /^CLOSED \d+$/, closed);
  if (maxMs !== undefined)
    assert.ok(
      Number(closed.split(" ")[1]) < maxMs,
      `Close took ${closed.split(" ")[1]} ms (a recvfd wait takes 10 s+)`,
    );
  assert.equal(backend.crossConnects.size, 0);
}
