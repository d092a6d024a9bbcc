/**
 * The control-plane components as in-process objects: each serves its chains over grpc-js and
 * registers where upstream's does. `src/cmd/*` wrap them with NSM_* configuration; the sandbox
 * composes a whole mesh from them.
 *
 *   const mgr = await createNsmgr({ name: "nsmgr", listenOn: ["unix:///tmp/nsm.sock"], signal });
 *   const fwd = await createForwarder({ name: "fwd", listenOn: ["unix:///tmp/fwd.sock"], nsmgrUrl: mgr.url, signal });
 *   const nse = await createEndpoint({ name: "icmp", listenOn: ["unix:///tmp/nse.sock"], nsmgrUrl: mgr.url, services: ["icmp"], cidrs: ["10.0.0.0/24"], signal });
 */
import { setMaxListeners } from "node:events";
import {
  ConnectionSchema,
  create,
  NetworkServiceEndpointSchema,
  NetworkServiceSchema,
  payload as payloads,
  mechType,
  wellKnown,
  type DNSConfig,
  type NetworkServiceEndpoint,
  type MessageInitShape,
  DNSConfigSchema,
} from "../api/index.js";
import { messageOf, newCtx, serve, type GrpcServer, type ServerElement, type ClientElement } from "../core/index.js";
import { nullBackend } from "../forwarder/backends/null/index.js";
import type { DatapathBackend } from "../forwarder/backend.js";
import { nsmgrRegistry, type NsmgrRegistry } from "../registry/chains/nsmgr.js";
import {
  nseRegistryClient,
  nsRegistryClient,
  type NseRegistryClient,
  type NsRegistryClient,
} from "../registry/chains/client.js";
import { dial } from "../core/index.js";
import { type Logger, silentLogger } from "../tools/log.js";
import { newTokenGenerator, type TokenGenerator } from "../tools/token/index.js";
import { client, type Client } from "./chains/client.js";
import { endpoint, type Endpoint } from "./chains/endpoint.js";
import { forwarder } from "./chains/forwarder.js";
import { nsmgr } from "./chains/nsmgr.js";
import { clientInfoClient } from "./common/clientinfo/client.js";
import { ChannelPool } from "./common/dial/pool.js";
import { dnsContextServer } from "./common/dnscontext/server.js";
import type { HealOptions } from "./common/heal/client.js";
import { point2PointIpamServer } from "./common/ipam/point2pointipam/server.js";
import { kernelMechanismClient } from "./common/mechanisms/kernel/client.js";
import { kernelMechanismServer } from "./common/mechanisms/kernel/server.js";
import { memifMechanismClient } from "./common/mechanisms/memif/client.js";
import { memifMechanismServer } from "./common/mechanisms/memif/server.js";
import { mechanismsServer } from "./common/mechanisms/server.js";
import { cachedLookup } from "./utils/cachedlookup.js";
import { instrumentHeal, instrumentServer, telemetryClient } from "./utils/telemetry.js";
import type { Telemetry } from "../tools/telemetry/index.js";

interface Common {
  /** path segment / registration name */
  name: string;
  /** the component's lifetime; `close()` also ends it */
  signal: AbortSignal;
  log?: Logger;
  /** NSM_MAX_TOKEN_LIFETIME (ms, default 10 min); ignored when `tokens` is given */
  maxTokenLifetimeMs?: number;
  tokens?: TokenGenerator;
  /** NSM_DIAL_TIMEOUT */
  dialTimeoutMs?: number;
  /** TELEMETRY / PROMETHEUS (src/tools/telemetry): instruments the chains; the caller closes it */
  telemetry?: Telemetry;
}

async function basics(o: Common) {
  const life = new AbortController();
  // every live connection hangs a timer's cancel on the lifetime: thousands of listeners are expected
  setMaxListeners(0, life.signal);
  const stop = () => life.abort();
  o.signal.addEventListener("abort", stop, { once: true });
  const tokens = o.tokens ?? (await newTokenGenerator({ name: o.name, maxLifetimeMs: o.maxTokenLifetimeMs }));
  const log = (o.log ?? silentLogger).child({ name: o.name });
  const unlisten = () => o.signal.removeEventListener("abort", stop);
  return { life, tokens, log, unlisten };
}

/**
 * Every shutdown step is bounded (default 1 s): a component must be gone within 5 s of SIGTERM
 * whatever its peers' state. A step that does not finish in time is logged and left behind (e.g.
 * an unregister queued behind a registry heal that retries a dead nsmgr until the lifetime ends).
 */
export const CLOSE_STEP_MS = 1000;
const closeQuietly = async (what: string, log: Logger, fn: () => unknown, ms = CLOSE_STEP_MS) => {
  let timer: NodeJS.Timeout | undefined;
  try {
    const late = new Promise<"late">((r) => (timer = setTimeout(r, ms, "late")));
    if ((await Promise.race([Promise.resolve().then(fn), late])) === "late")
      log.warn({ afterMs: ms }, `close ${what}: gave up waiting`);
  } catch (e) {
    log.warn({ err: messageOf(e) }, `close ${what} failed`);
  } finally {
    clearTimeout(timer);
  }
};

// ---------------------------------------------------------------------------------------------

export interface NsmgrConfig extends Common {
  /** NSM_LISTEN_ON; the first tcp URL (else the first) is the published URL */
  listenOn: readonly string[];
  /** NSM_REGISTRY_URL; none → in-memory registry inside nsmgr */
  registryUrl?: string;
  /** NSM_FORWARDER_NETWORK_SERVICE_NAME */
  forwarderService?: string;
  /** NSE registration lifetime without refresh (default 1 min) */
  expirePeriodMs?: number;
}

export interface Nsmgr {
  readonly url: string;
  readonly endpoint: Endpoint;
  readonly registry: NsmgrRegistry;
  readonly server: GrpcServer;
  close(): Promise<void>;
}

export async function createNsmgr(o: NsmgrConfig): Promise<Nsmgr> {
  const { life, tokens, log, unlisten } = await basics(o);
  const published = o.listenOn.find((u) => u.startsWith("tcp://")) ?? o.listenOn[0];
  if (!published) throw new Error("nsmgr: NSM_LISTEN_ON is empty");
  const pool = new ChannelPool({ dialTimeoutMs: o.dialTimeoutMs });
  // tcp://:port is published with a real port below; registry URLs need the final one
  let server: GrpcServer | undefined;
  let url = published;
  let registry: NsmgrRegistry | undefined;
  let lookup: ReturnType<typeof cachedLookup> | undefined;
  try {
    const lazy = {
      ns: { find: (q: never, c: never) => registry!.ns.find(q, c) },
      nse: { find: (q: never, c: never) => registry!.nse.find(q, c) },
    };
    const ep = nsmgr({
      name: o.name,
      tokens,
      signal: life.signal,
      pool,
      registry: lazy as never,
      forwarderService: o.forwarderService,
      acceptForwarder: (f) => registry?.localBypass.has(f.name) ?? false,
    });
    let reg!: NsmgrRegistry;
    const regProxy = {
      register: (e: never, c: never) => reg.nse.register(e, c),
      find: (q: never, c: never) => reg.nse.find(q, c),
      unregister: (e: never, c: never) => reg.nse.unregister(e, c),
    };
    const nsProxy = {
      register: (e: never, c: never) => reg.ns.register(e, c),
      find: (q: never, c: never) => reg.ns.find(q, c),
      unregister: (e: never, c: never) => reg.ns.unregister(e, c),
    };
    server = await serve(
      o.listenOn,
      {
        networkService: instrumentServer(ep, o.telemetry, { perSegmentCounters: true }),
        monitor: ep.monitor,
        nseRegistry: regProxy,
        nsRegistry: nsProxy,
      },
      { log },
    );
    const bound = server.urls.find((u) => u.scheme === "tcp") ?? server.urls[0]!;
    url = bound.scheme === "tcp" && published.startsWith("tcp://") ? bound.href : published;
    reg = nsmgrRegistry({
      nsmgrUrl: url,
      registryUrl: o.registryUrl,
      expirePeriodMs: o.expirePeriodMs,
      signal: life.signal,
      log,
      dialTimeoutMs: o.dialTimeoutMs,
    });
    registry = reg;
    // forwarders are only those registered through this nsmgr: localbypass stores them upstream under our URL
    lookup = o.registryUrl ? cachedLookup({ ns: reg.ns, nse: reg.nse }, { signal: life.signal, log }) : undefined;
    if (lookup) {
      const l = lookup;
      registry = {
        ...reg,
        ns: { ...reg.ns, find: l.ns.find } as never,
        nse: { ...reg.nse, find: l.nse.find } as never,
      };
    }
    const srv = server;
    log.info({ url, registry: o.registryUrl ?? "memory" }, "nsmgr: startup completed");
    return {
      url,
      endpoint: ep,
      registry: reg,
      server: srv,
      async close() {
        unlisten();
        life.abort();
        await closeQuietly("grpc server", log, () => srv.close());
        lookup?.close();
        pool.close();
        await closeQuietly("registry", log, () => reg.close());
      },
    };
  } catch (e) {
    unlisten();
    life.abort();
    await server?.close();
    pool.close();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------

export interface ForwarderConfig extends Common {
  listenOn: readonly string[];
  /** the local nsmgr (NSM_CONNECT_TO) */
  nsmgrUrl: string;
  /** NSM_DATAPATH backend (default: null) */
  backend?: DatapathBackend;
  /** NSM_NSNAME, default "forwarder" */
  forwarderService?: string;
  /** NSM_LABELS for the forwarder service (default p2p=true) */
  labels?: Readonly<Record<string, string>>;
  /** registration lifetime asked for (default: the registry's) */
  registerRefresh?: boolean;
  /** is the next hop at `url` another node's nsmgr (offer REMOTE mechanisms)? default: never */
  isRemote?: (url: string) => boolean;
}

export interface Forwarder {
  readonly url: string;
  readonly endpoint: Endpoint;
  readonly backend: DatapathBackend;
  readonly registration: NetworkServiceEndpoint;
  /** stops serving without unregistering (as a crash would) */
  kill(): Promise<void>;
  close(): Promise<void>;
}

export async function createForwarder(o: ForwarderConfig): Promise<Forwarder> {
  const { life, tokens, log, unlisten } = await basics(o);
  const backend = o.backend ?? nullBackend();
  const svc = o.forwarderService ?? wellKnown.FORWARDER_SERVICE;
  const pool = new ChannelPool({ dialTimeoutMs: o.dialTimeoutMs });
  const mgr = dial(o.nsmgrUrl, { dialTimeoutMs: o.dialTimeoutMs });
  const lookup = cachedLookup({ ns: mgr.nsRegistry, nse: mgr.nseRegistry }, { signal: life.signal, log });
  const ep = forwarder({
    name: o.name,
    tokens,
    signal: life.signal,
    registry: lookup,
    backend,
    pool,
    isRemote: o.isRemote,
  });
  let server: GrpcServer | undefined;
  let reg: NseRegistryClient | undefined;
  const cleanup = async () => {
    unlisten();
    life.abort();
    if (server) await closeQuietly("grpc server", log, () => server!.close());
    await closeQuietly("registry client", log, () => reg?.close());
    lookup.close();
    pool.close();
    mgr.close();
    await closeQuietly("backend", log, () => backend.close(), 2 * CLOSE_STEP_MS);
  };
  try {
    const interfaceCounters = async (id: string) =>
      backend.metrics?.({ id, incoming: create(ConnectionSchema, { id }), outgoing: create(ConnectionSchema, { id }) });
    server = await serve(
      o.listenOn,
      { ...ep, networkService: instrumentServer(ep, o.telemetry, { interfaceCounters }) },
      { log },
    );
    const url = server.urls[0]!.href;
    reg = nseRegistryClient({ url: o.nsmgrUrl, signal: life.signal, log, dialTimeoutMs: o.dialTimeoutMs });
    const registration = await reg.register(
      create(NetworkServiceEndpointSchema, {
        name: o.name,
        networkServiceNames: [svc],
        networkServiceLabels: { [svc]: { labels: { ...wellKnown.FORWARDER_P2P_LABEL, ...o.labels } } },
        url,
      }),
      newCtx({ timeoutMs: 15_000, signal: life.signal }),
    );
    log.info({ url, datapath: backend.name }, "forwarder: startup completed");
    const r = reg;
    let done: Promise<void> | undefined;
    return {
      url,
      endpoint: ep,
      backend,
      registration,
      kill: () => (done ??= cleanup()),
      close: () =>
        (done ??= (async () => {
          await closeQuietly("unregister", log, () => r.unregister(registration, newCtx({ timeoutMs: 1000 })));
          await cleanup();
        })()),
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------

export interface EndpointConfig extends Common {
  listenOn: readonly string[];
  /** the local nsmgr (NSM_CONNECT_TO), where the NSE registers */
  nsmgrUrl: string;
  /** NSM_SERVICE_NAMES */
  services: readonly string[];
  /** NSM_LABELS, the same for every service */
  labels?: Readonly<Record<string, string>>;
  /** NSM_CIDR_PREFIX pools (default 169.254.0.0/16) */
  cidrs?: readonly string[];
  /** NSM_DNS_CONFIGS */
  dnsConfigs?: readonly MessageInitShape<typeof DNSConfigSchema>[];
  /** NSM_PAYLOAD for the NetworkService registration (default ETHERNET) */
  payload?: string;
  /** NSM_REGISTER_SERVICE (default true) */
  registerService?: boolean;
  /** our netns for the kernel mechanism (default /proc/<pid>/ns/net) */
  netnsUrl?: string;
  /** more elements after the standard ones (before the end of the chain) */
  extra?: readonly ServerElement[];
}

export interface NetworkServiceEndpointHandle {
  readonly url: string;
  readonly endpoint: Endpoint;
  readonly registration: NetworkServiceEndpoint;
  /** stops serving without unregistering (as a crash would) */
  kill(): Promise<void>;
  /** unregisters (NSM_UNREGISTER_ITSELF) and stops */
  close(o?: { unregister?: boolean }): Promise<void>;
}

export async function createEndpoint(o: EndpointConfig): Promise<NetworkServiceEndpointHandle> {
  const { life, tokens, log, unlisten } = await basics(o);
  const ep = endpoint({
    name: o.name,
    tokens,
    signal: life.signal,
    extra: [
      point2PointIpamServer(o.cidrs ?? ["169.254.0.0/16"]),
      mechanismsServer({
        [mechType.KERNEL]: kernelMechanismServer({ netnsUrl: o.netnsUrl }),
        [mechType.MEMIF]: memifMechanismServer({ netnsUrl: o.netnsUrl }),
        [mechType.NOOP]: {},
      }),
      dnsContextServer(o.dnsConfigs ?? []),
      ...(o.extra ?? []),
    ],
  });
  let server: GrpcServer | undefined;
  let nseReg: NseRegistryClient | undefined;
  let nsReg: NsRegistryClient | undefined;
  const cleanup = async () => {
    unlisten();
    life.abort();
    if (server) await closeQuietly("grpc server", log, () => server!.close());
    await closeQuietly("registry client", log, () => nseReg?.close());
    await closeQuietly("registry client", log, () => nsReg?.close());
  };
  try {
    server = await serve(o.listenOn, { ...ep, networkService: instrumentServer(ep, o.telemetry) }, { log });
    const url = server.urls[0]!.href;
    const ctx = newCtx({ timeoutMs: 15_000, signal: life.signal });
    if (o.registerService !== false) {
      nsReg = nsRegistryClient({ url: o.nsmgrUrl, signal: life.signal, log, dialTimeoutMs: o.dialTimeoutMs });
      for (const s of o.services) {
        await nsReg.register(create(NetworkServiceSchema, { name: s, payload: o.payload ?? payloads.ETHERNET }), ctx);
      }
    }
    nseReg = nseRegistryClient({ url: o.nsmgrUrl, signal: life.signal, log, dialTimeoutMs: o.dialTimeoutMs });
    const labels = o.labels ?? {};
    const registration = await nseReg.register(
      create(NetworkServiceEndpointSchema, {
        name: o.name,
        networkServiceNames: [...o.services],
        networkServiceLabels: Object.fromEntries(o.services.map((s) => [s, { labels: { ...labels } }])),
        url,
      }),
      ctx,
    );
    log.info({ url, services: o.services }, "endpoint: startup completed");
    const r = nseReg;
    let done: Promise<void> | undefined;
    return {
      url,
      endpoint: ep,
      registration,
      kill: () => (done ??= cleanup()),
      close: (c = {}) =>
        (done ??= (async () => {
          if (c.unregister !== false)
            await closeQuietly("unregister", log, () => r.unregister(registration, newCtx({ timeoutMs: 1000 })));
          await cleanup();
        })()),
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------

export interface ClientConfig extends Common {
  /** NSM_CONNECT_TO */
  nsmgrUrl: string;
  /** heal options, or false (default: heal without liveness check) */
  heal?: HealOptions | false;
  refresh?: boolean;
  /** our netns for KERNEL mechanisms (default /proc/<pid>/ns/net) */
  netnsUrl?: string;
  /** offer only the mechanisms each request names (nsc: the URL's scheme), never a KERNEL fallback */
  onlyAskedMechanisms?: boolean;
  extra?: readonly ClientElement[];
  env?: Readonly<Record<string, string | undefined>>;
}

export interface NscHandle {
  readonly client: Client;
  readonly tokens: TokenGenerator;
  close(): Promise<void>;
}

/** The NSC's client chain: clientinfo, kernel mechanism (netns as a file URL), refresh and heal. */
export async function createClient(o: ClientConfig): Promise<NscHandle> {
  const { life, tokens, log, unlisten } = await basics(o);
  const c = client({
    name: o.name,
    signal: life.signal,
    tokens,
    connectTo: o.nsmgrUrl,
    dialTimeoutMs: o.dialTimeoutMs,
    refresh: o.refresh,
    heal: instrumentHeal(o.heal === undefined ? {} : o.heal, o.telemetry),
    extra: [
      ...telemetryClient(o.telemetry),
      clientInfoClient(o.env),
      kernelMechanismClient({ netnsUrl: o.netnsUrl, offer: !o.onlyAskedMechanisms }),
      memifMechanismClient({ netnsUrl: o.netnsUrl, offer: false }),
      ...(o.extra ?? []),
    ],
  });
  void log;
  return {
    client: c,
    tokens,
    async close() {
      unlisten();
      life.abort();
      c.dispose();
    },
  };
}

export type { DNSConfig };
