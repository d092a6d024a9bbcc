/**
 * In-process sandbox: a registry, N nodes of nsmgr + forwarder (null datapath), endpoints and
 * clients, all over real grpc-js on unix sockets in a temp dir. Everything it starts is stopped
 * by `close()` (LIFO, every error reported), so tests leave nothing behind.
 *
 *   const sb = await sandbox({ nodes: 1 });
 *   t.after(() => sb.close());
 *   await sb.node(0).endpoint({ name: "nse-1", services: ["icmp"] });
 *   const nsc = await sb.node(0).client();
 *   const conn = await nsc.request("kernel://icmp/nsm-1");
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Connection } from "../api/index.js";
import { newCtx, serve, type GrpcServer } from "../core/index.js";
import { nullBackend, type NullBackend } from "../forwarder/backends/null/index.js";
import {
  createClient,
  createEndpoint,
  createForwarder,
  createNsmgr,
  type EndpointConfig,
  type Forwarder,
  type NetworkServiceEndpointHandle,
  type Nsmgr,
  type NscHandle,
  type ClientConfig,
} from "../networkservice/components.js";
import { parseNsUrl, requestFromNsUrl } from "../networkservice/utils/nsurl.js";
import { createRegistry, type Registry } from "../registry/chains/registry.js";
import { type Logger, silentLogger } from "../tools/log.js";
import type { Telemetry } from "../tools/telemetry/index.js";

export interface SandboxOptions {
  /** nodes, each with its nsmgr and forwarders (default 1) */
  nodes?: number;
  /** forwarders per node (default 1) */
  forwardersPerNode?: number;
  /** a central registry (default: when nodes > 1); otherwise each nsmgr keeps its registry in memory */
  centralRegistry?: boolean;
  /** NSM_MAX_TOKEN_LIFETIME for every component (default 10 min) */
  maxTokenLifetimeMs?: number;
  /** NSE registration lifetime (default 1 min) */
  expirePeriodMs?: number;
  /** dial timeout of every component (default 2 s as upstream's sandbox) */
  dialTimeoutMs?: number;
  log?: Logger;
  /** telemetry for each component (`component`: nsmgr, forwarder, nse, nsc), e.g. in-memory exporters */
  telemetry?: (component: string, name: string) => Telemetry | undefined;
}

export interface SandboxClient {
  readonly handle: NscHandle;
  /** requests `nsUrl` (NSM_NETWORK_SERVICES grammar) with connection id `id` (default `<name>-<n>`) */
  request(nsUrl: string, o?: { id?: string; timeoutMs?: number; connection?: Connection }): Promise<Connection>;
  close(conn: Connection, o?: { timeoutMs?: number }): Promise<void>;
  /** stops the client without closing its connections (as a crash would) */
  kill(): Promise<void>;
}

export interface SandboxNode {
  readonly index: number;
  readonly nsmgr: Nsmgr;
  readonly nsmgrUrl: string;
  readonly forwarders: Forwarder[];
  readonly backends: NullBackend[];
  endpoint(
    o: Partial<EndpointConfig> & { name: string; services: readonly string[] },
  ): Promise<NetworkServiceEndpointHandle>;
  client(o?: Partial<ClientConfig>): Promise<SandboxClient>;
  addForwarder(name?: string): Promise<Forwarder>;
  /** stops this node's nsmgr (as a crash) and starts a new one on the same URL */
  restartNsmgr(): Promise<void>;
}

export interface Sandbox {
  readonly dir: string;
  readonly registryUrl?: string;
  readonly nodes: readonly SandboxNode[];
  node(i: number): SandboxNode;
  /** stops everything, newest first; throws an AggregateError naming every failure */
  close(): Promise<void>;
}

export async function sandbox(o: SandboxOptions = {}): Promise<Sandbox> {
  const dir = mkdtempSync(join(tmpdir(), "nsm-sb-"));
  const life = new AbortController();
  const log = o.log ?? silentLogger;
  const stack: { what: string; fn: () => unknown }[] = [];
  const defer = (what: string, fn: () => unknown) => {
    stack.push({ what, fn });
  };
  defer("temp dir", () => rmSync(dir, { recursive: true, force: true }));
  defer("lifetime", () => life.abort());
  let n = 0;
  const sock = (name: string) => `unix://${join(dir, `${name}.sock`)}`;
  const common = {
    signal: life.signal,
    log,
    maxTokenLifetimeMs: o.maxTokenLifetimeMs,
    dialTimeoutMs: o.dialTimeoutMs ?? 2000,
  };

  const close = async () => {
    const errors: unknown[] = [];
    while (stack.length) {
      const { what, fn } = stack.pop()!;
      try {
        await fn();
      } catch (e) {
        errors.push(new Error(`sandbox: closing ${what}: ${(e as Error).message}`, { cause: e }));
      }
    }
    if (errors.length) throw new AggregateError(errors, `sandbox: ${errors.length} error(s) while closing`);
  };

  try {
    let registryUrl: string | undefined;
    const nodes = o.nodes ?? 1;
    if (o.centralRegistry ?? nodes > 1) {
      const reg: Registry = await createRegistry({
        signal: life.signal,
        log,
        expirePeriodMs: o.expirePeriodMs,
        name: "registry",
      });
      defer("registry", () => reg.close());
      const srv: GrpcServer = await serve([sock("registry")], { nseRegistry: reg.nse, nsRegistry: reg.ns }, { log });
      defer("registry server", () => srv.close());
      registryUrl = srv.urls[0]!.href;
    }

    const mkNode = async (index: number): Promise<SandboxNode> => {
      const nsmgrUrl = sock(`nsmgr-${index}`);
      const startNsmgr = () =>
        createNsmgr({
          ...common,
          telemetry: o.telemetry?.("nsmgr", `nsmgr-${index}`),
          name: `nsmgr-${index}`,
          listenOn: [nsmgrUrl],
          registryUrl,
          expirePeriodMs: o.expirePeriodMs,
        });
      let mgr = await startNsmgr();
      defer(`nsmgr-${index}`, () => mgr.close());
      const node: SandboxNode = {
        index,
        nsmgrUrl,
        get nsmgr() {
          return mgr;
        },
        forwarders: [],
        backends: [],
        async addForwarder(name = `forwarder-${index}-${node.forwarders.length}`) {
          const backend = nullBackend();
          const f = await createForwarder({
            ...common,
            telemetry: o.telemetry?.("forwarder", name),
            name,
            listenOn: [sock(name)],
            nsmgrUrl,
            backend,
          });
          defer(name, () => f.close());
          node.forwarders.push(f);
          node.backends.push(backend);
          return f;
        },
        async endpoint(e) {
          const h = await createEndpoint({
            ...common,
            telemetry: o.telemetry?.("nse", e.name),
            listenOn: [sock(e.name)],
            nsmgrUrl,
            cidrs: [`10.${index}.${n++ % 250}.0/24`],
            ...e,
          });
          defer(e.name, () => h.close());
          return h;
        },
        async client(c = {}) {
          const name = c.name ?? `nsc-${index}-${n++}`;
          const h = await createClient({ ...common, telemetry: o.telemetry?.("nsc", name), name, nsmgrUrl, ...c });
          defer(name, () => h.close());
          let k = 0;
          return {
            handle: h,
            request(url, r = {}) {
              const req = requestFromNsUrl(parseNsUrl(url), r.id ?? `${name}-${k++}`);
              if (r.connection) req.connection = r.connection;
              return h.client.request(req, newCtx({ timeoutMs: r.timeoutMs ?? 5000, log }));
            },
            close: (conn, r = {}) => h.client.close(conn, newCtx({ timeoutMs: r.timeoutMs ?? 5000, log })),
            kill: () => h.close(),
          };
        },
        async restartNsmgr() {
          await mgr.close();
          mgr = await startNsmgr();
        },
      };
      for (let i = 0; i < (o.forwardersPerNode ?? 1); i++) await node.addForwarder();
      return node;
    };
    const all: SandboxNode[] = [];
    for (let i = 0; i < nodes; i++) all.push(await mkNode(i));
    return { dir, registryUrl, nodes: all, node: (i) => all[i]!, close };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}
