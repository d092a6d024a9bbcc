/** The nsmgr component (see ../components.ts). */
import { nseChain, serve, type GrpcServer } from "../../core/index.js";
import { sendFdNseServer } from "../../registry/common/sendfd/server.js";
import { nsmgrRegistry, type NsmgrRegistry } from "../../registry/chains/nsmgr.js";
import { type Endpoint } from "../chains/endpoint.js";
import { nsmgr } from "../chains/nsmgr.js";
import { ChannelPool } from "../common/dial/pool.js";
import { cachedLookup } from "../utils/cachedlookup.js";
import { instrumentServer } from "../utils/telemetry.js";
import { basics, closeQuietly, type Common } from "./common.js";

export interface NsmgrConfig extends Common {
  /** NSM_LISTEN_ON; the first tcp URL (else the first) is the published URL */
  listenOn: readonly string[];
  /** NSM_REGISTRY_URL; none → in-memory registry inside nsmgr */
  registryUrl?: string;
  /** NSM_FORWARDER_NETWORK_SERVICE_NAME */
  forwarderService?: string;
  /** NSE registration lifetime without refresh (default 1 min) */
  expirePeriodMs?: number;
  /** NSM_EXCLUDED_PREFIXES_FILE: YAML `Prefixes:` list added to every request (watched) */
  excludedPrefixesFile?: string;
  /** custom registry policies (NSM_REGISTRY_SERVER_POLICIES, loaded by src/tools/opa) */
  registryPolicies?: readonly { readonly name: string; evaluate(input: unknown): Promise<boolean> }[];
  /** custom registry client policies (NSM_REGISTRY_CLIENT_POLICIES): checked on what the registry answers */
  registryClientPolicies?: readonly { readonly name: string; evaluate(input: unknown): Promise<boolean> }[];
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
      excludedPrefixesFile: o.excludedPrefixesFile,
      log,
      acceptForwarder: (f) => registry?.localBypass.has(f.name) ?? false,
    });
    let reg!: NsmgrRegistry;
    // Find answers carry fds only at the gRPC boundary: in-process lookups (discoverforwarder)
    // see the local URLs (recvfd is in the nsmgr registry chain itself)
    const fdNse = nseChain(sendFdNseServer());
    const regProxy = {
      register: (e: never, c: never) => fdNse.register(e, c, reg.nse),
      find: (q: never, c: never) => fdNse.find(q, c, reg.nse),
      unregister: (e: never, c: never) => fdNse.unregister(e, c, reg.nse),
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
      policies: o.registryPolicies,
      clientPolicies: o.registryClientPolicies,
      tokens: () => tokens,
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
