/**
 * Shared setup of the datapath e2e tests (root only).
 *
 * In-process components: `harness` gives a sandbox a temp dir for unix sockets and a lifetime
 * signal; `nsmgr` starts one there; `workloads` makes the NSE and the NSC, each in a fresh netns
 * named to the forwarder by `file:///run/netns/<name>`, and returns request/close helpers. Every
 * part is registered on the sandbox's LIFO cleanup as it is made.
 *
 *   const h = harness(dpSandbox(t), "nsm-kl-");
 *   const mgr = await nsmgr(h);
 *   const fwd = await createForwarder({ ...h.common, name: "fwd", listenOn: [h.sock("fwd")], nsmgrUrl: mgr.url, backend });
 *   const w = await workloads(h, { nsmgrUrl: mgr.url, cidr: "172.16.1.100/31" });
 *   const conn = await w.request("nsc-0");               // kernel://icmp/nsm-1
 *   assert.deepEqual(await ours(w.nsc.ns), ["nsm-1"]);
 *
 * Meshes of real processes (src/mesh): `testMesh`, `marked`, `peerOf`, `pingUntil`, and the
 * NSE-kill heal scenario both mesh suites run (`healAfterNseKill`); `upNsc`: an nsc process at an
 * `nsm up` mesh.
 */
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Connection } from "../../src/api/index.js";
import { newCtx, type ServerElement } from "../../src/core/index.js";
import { Netns } from "../../src/datapath/index.js";
import { ping, uniq, type Cleanup, type Sandbox } from "../../src/datapath/testing/index.js";
import { createMesh, type Mesh, type MeshOptions, type MeshProc } from "../../src/mesh/index.js";
import { kernelBackend, type KernelBackend } from "../../src/forwarder/backends/kernel/index.js";
import {
  createClient,
  createEndpoint,
  createForwarder,
  createNsmgr,
  type Forwarder,
  type Nsmgr,
  type NsmgrConfig,
} from "../../src/networkservice/components.js";
import { parseNsUrl, requestFromNsUrl } from "../../src/networkservice/utils/nsurl.js";

// ---- in-process components -------------------------------------------------------------------

export interface Harness {
  readonly sb: Sandbox;
  /** the temp dir (removed at cleanup) */
  readonly dir: string;
  /** `unix://<dir>/<name>.sock` */
  sock(name: string): string;
  /** the options every component shares: the lifetime signal (aborted at cleanup), dial timeout */
  readonly common: { signal: AbortSignal; dialTimeoutMs: number };
}

/** A temp dir for sockets and a lifetime signal, both undone by `sb`'s cleanup. */
export function harness(sb: Sandbox, prefix: string): Harness {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  sb.cleanup.push("temp dir", () => rmSync(dir, { recursive: true, force: true }));
  const life = new AbortController();
  sb.cleanup.push("lifetime", () => life.abort());
  return {
    sb,
    dir,
    sock: (n) => `unix://${join(dir, `${n}.sock`)}`,
    common: { signal: life.signal, dialTimeoutMs: 2000 },
  };
}

/** An nsmgr listening on `<dir>/<name>.sock` (default name "nsmgr"), closed at cleanup. */
export async function nsmgr(h: Harness, o: { name?: string } & Partial<NsmgrConfig> = {}): Promise<Nsmgr> {
  const name = o.name ?? "nsmgr";
  const mgr = await createNsmgr({ ...h.common, listenOn: [h.sock(name)], ...o, name });
  h.sb.cleanup.push(name, () => mgr.close());
  return mgr;
}

/**
 * A forwarder "fwd" on the kernel backend (state in `<dir>/fwd-state` unless `stateDir`), under
 * the nsmgr at `nsmgrUrl`; `stop()` closes it and waits for the backend's deletes. Not on the
 * cleanup: callers that restart it push their own; `kernelForwarderOnCleanup` for the others.
 */
export async function kernelForwarder(
  h: Harness,
  nsmgrUrl: string,
  o: { stateDir?: string } = {},
): Promise<{ f: Forwarder; backend: KernelBackend; stop(): Promise<void> }> {
  const backend = await kernelBackend({ stateDir: o.stateDir ?? join(h.dir, "fwd-state"), staleAfterMs: 60_000 });
  const f = await createForwarder({ ...h.common, name: "fwd", listenOn: [h.sock("fwd")], nsmgrUrl, backend });
  return {
    f,
    backend,
    async stop() {
      await f.close();
      await backend.idle();
    },
  };
}

/** {@link kernelForwarder}, stopped at cleanup. */
export async function kernelForwarderOnCleanup(h: Harness, nsmgrUrl: string): Promise<void> {
  const k = await kernelForwarder(h, nsmgrUrl);
  h.sb.cleanup.push("forwarder", () => k.stop());
}

export interface WorkloadOptions {
  /** where the NSE registers and (unless `nscNsmgrUrl`) the NSC connects */
  nsmgrUrl: string;
  nscNsmgrUrl?: string;
  /** the NSE's IPAM pool */
  cidr: string;
  /** the NSE's name and socket (default "nse-1") */
  nseName?: string;
  /** the NSE's services (default ["icmp"]) */
  services?: string[];
  /** more NSE chain elements */
  extra?: readonly ServerElement[];
  /** the payload the NSE registers its services with (default ETHERNET) */
  payload?: string;
  /** the NSC's default request URL (default "kernel://icmp/nsm-1") */
  url?: string;
  /** Request deadline, ms (default 10 000; Close: 10 000) */
  requestTimeoutMs?: number;
  /** netns made beforehand (default: fresh ones, made after what is already there) */
  nse?: { name: string; ns: Netns };
  nsc?: { name: string; ns: Netns };
}

export interface Workloads {
  readonly nse: { name: string; ns: Netns };
  readonly nsc: { name: string; ns: Netns };
  /** Requests `url` as connection `id`; `conn` (a refresh) replaces the request's connection. */
  request(id: string, url?: string, conn?: Connection): Promise<Connection>;
  close(c: Connection): Promise<unknown>;
}

/** An NSE (in-process endpoint) and an NSC (in-process client, heal off) in their own netns. */
export async function workloads(h: Harness, o: WorkloadOptions): Promise<Workloads> {
  const nse = o.nse ?? h.sb.netns(),
    nsc = o.nsc ?? h.sb.netns();
  const nseName = o.nseName ?? "nse-1";
  const ep = await createEndpoint({
    ...h.common,
    name: nseName,
    listenOn: [h.sock(nseName)],
    nsmgrUrl: o.nsmgrUrl,
    services: o.services ?? ["icmp"],
    cidrs: [o.cidr],
    netnsUrl: `file:///run/netns/${nse.name}`,
    ...(o.extra ? { extra: o.extra } : {}),
    ...(o.payload ? { payload: o.payload } : {}),
  });
  h.sb.cleanup.push("nse", () => ep.close());
  const cl = await createClient({
    ...h.common,
    name: "nsc",
    nsmgrUrl: o.nscNsmgrUrl ?? o.nsmgrUrl,
    netnsUrl: `file:///run/netns/${nsc.name}`,
    heal: false,
  });
  h.sb.cleanup.push("nsc", () => cl.close());
  return {
    nse,
    nsc,
    request(id, url = o.url ?? "kernel://icmp/nsm-1", conn) {
      const req = requestFromNsUrl(parseNsUrl(url), id);
      if (conn) req.connection = conn;
      return cl.client.request(req, newCtx({ timeoutMs: o.requestTimeoutMs ?? 10_000 }));
    },
    close: (c) => cl.client.close(c, newCtx({ timeoutMs: 10_000 })),
  };
}

/** Names of the interfaces in `ns` that carry our mark (alias `nsm:<id>`). */
export async function ours(ns: Netns): Promise<string[]> {
  return (await ns.links()).filter((l) => l.attrs.alias?.startsWith("nsm:")).map((l) => l.attrs.name);
}

// ---- meshes of processes ---------------------------------------------------------------------

/** A mesh named `t-<pid>-<n>` in a fresh temp dir (`<prefix><id>-`), closed after the test; forwarder stale timeout 5 s. */
export async function testMesh(t: TestContext, prefix: string, o: Omit<MeshOptions, "id" | "dir"> = {}): Promise<Mesh> {
  const id = uniq();
  const m = await createMesh({
    id,
    dir: mkdtempSync(join(tmpdir(), `${prefix}${id}-`)),
    forwarderStaleTimeout: "5s",
    ...o,
  });
  t.after(() => m.close());
  return m;
}

/** Interfaces carrying our mark (alias nsm:<id>) in a named netns. */
export async function marked(netns: string): Promise<{ name: string; kind: string }[]> {
  const ns = Netns.open({ name: netns });
  try {
    return (await ns.links())
      .filter((l) => l.attrs.alias?.startsWith("nsm:"))
      .map((l) => ({ name: l.attrs.name, kind: l.kind }));
  } finally {
    ns.close();
  }
}

/** The NSE's address as the client sees it: the /32 link route on its nsm-1. */
export async function peerOf(netns: string): Promise<string> {
  const ns = Netns.open({ name: netns });
  try {
    const r = (await ns.routes({ family: 4, dev: "nsm-1" })).find((x) => x.dst.endsWith("/32") && !x.via);
    assert.ok(r, `no route to the NSE in ${netns}`);
    return r.dst.split("/")[0]!;
  } finally {
    ns.close();
  }
}

/** Pings until one reply comes back (the route may not exist yet while healing); rejects after `ms`. */
export async function pingUntil(netns: string, addr: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      await ping(netns, addr, 1, 1);
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export type MeshWorkload = MeshProc & { workload: string };

/**
 * Node 0 gets NSEs `nse-a` (172.16.1.100/31) and `nse-b` (172.16.2.100/31) and an NSC on
 * kernel://icmp-responder/nsm-1; the NSE it connected to is pinged, then SIGKILLed, and the NSC
 * must ping the other one within 30 s (heal). Returns the NSC and the surviving NSE.
 */
export async function healAfterNseKill(m: Mesh): Promise<{ nsc: MeshWorkload; other: MeshWorkload }> {
  const a = await m.startNse(0, { name: "nse-a", cidr: "172.16.1.100/31" });
  const b = await m.startNse(0, { name: "nse-b", cidr: "172.16.2.100/31" });
  const nsc = await m.startNsc(0, { name: "nsc", services: ["kernel://icmp-responder/nsm-1"] });
  const line = await nsc.waitFor(/connected to/, 30_000);
  const first = /nse-a/.test(line) ? a : b;
  const other = first === a ? b : a;
  const addr = (n: typeof a) => (n === a ? "172.16.1.100" : "172.16.2.100");
  await ping(nsc.workload, addr(first), 1, 10);
  await first.stop("SIGKILL");
  await pingUntil(nsc.workload, addr(other), 30_000);
  return { nsc, other };
}

/**
 * `nsm nsc` in the namespace `netns` (made by the caller) for kernel://icmp-responder/nsm-1 at the
 * `nsm up` socket, with `env` added; at cleanup it is stopped with `stop` unless it has exited.
 * Resolves once nsm-1 has the /32 route to the NSE (30 s), with the NSE's address, the process
 * and a handle on the namespace (closed at cleanup).
 */
export async function upNsc(
  cleanup: Cleanup,
  netns: string,
  socket: string,
  o: { env?: Record<string, string>; stop: NodeJS.Signals },
) {
  const bin = new URL("../../bin/nsm.mjs", import.meta.url).pathname;
  const nsc = spawn("ip", ["netns", "exec", netns, process.execPath, bin, "nsc"], {
    env: {
      ...process.env,
      ...o.env,
      NSM_NETWORK_SERVICES: "kernel://icmp-responder/nsm-1",
      NSM_CONNECT_TO: `unix://${socket}`,
    },
    stdio: "ignore",
  });
  const exited = new Promise((r) => nsc.once("exit", r));
  cleanup.push("nsc", async () => {
    if (nsc.exitCode === null) {
      nsc.kill(o.stop);
      await exited;
    }
  });
  const ns = Netns.open({ name: netns });
  cleanup.push("netns handle", () => ns.close());
  let peer: string | undefined;
  for (const end = Date.now() + 30_000; !peer && Date.now() < end; await new Promise((r) => setTimeout(r, 50)))
    peer = (await ns.routes({ family: 4 }).catch(() => []))
      .find((r) => r.dev === "nsm-1" && r.dst.endsWith("/32") && !r.via)
      ?.dst.split("/")[0];
  assert.ok(peer, "the nsc got no connection in 30 s");
  return { nsc, exited, ns, peer };
}
