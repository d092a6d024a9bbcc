// Shared by the interop tests: the upstream peer per test, a temp dir with unix sockets, cleanup.
import { type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
