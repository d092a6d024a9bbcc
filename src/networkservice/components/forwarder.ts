/** The forwarder component (see ../components.ts). */
import {
  ConnectionSchema,
  create,
  NetworkServiceEndpointSchema,
  wellKnown,
  type NetworkServiceEndpoint,
} from "../../api/index.js";
import { newCtx, serve, type GrpcServer } from "../../core/index.js";
import { nullBackend } from "../../forwarder/backends/null/index.js";
import type { DatapathBackend } from "../../forwarder/backend.js";
import type { NseRegistryClient } from "../../registry/chains/client.js";
import { dial } from "../../core/index.js";
import { type Endpoint } from "../chains/endpoint.js";
import { forwarder } from "../chains/forwarder.js";
import { ChannelPool } from "../common/dial/pool.js";
import { recvFdNseClient } from "../../registry/common/recvfd/client.js";
import { cachedLookup } from "../utils/cachedlookup.js";
import { instrumentServer } from "../utils/telemetry.js";
import { basics, closeQuietly, CLOSE_STEP_MS, registryClients, type Common } from "./common.js";

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
  /** is the next hop at `url` another node's nsmgr (offer REMOTE mechanisms)? default: it is the URL forwarders of another nsmgr are published under */
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
  const b = await basics(o);
  const { life, tokens, log, unlisten } = b;
  const backend = o.backend ?? nullBackend();
  const svc = o.forwarderService ?? wellKnown.FORWARDER_SERVICE;
  const pool = new ChannelPool({ dialTimeoutMs: o.dialTimeoutMs });
  const mgr = dial(o.nsmgrUrl, { dialTimeoutMs: o.dialTimeoutMs });
  // NSE URLs come as inode:// with the socket fd beside them (upstream nsmgr: always)
  const nses = recvFdNseClient(mgr.nseRegistry, mgr.fds);
  const lookup = cachedLookup({ ns: mgr.nsRegistry, nse: nses }, { signal: life.signal, log });
  const ep = forwarder({
    name: o.name,
    tokens,
    signal: life.signal,
    registry: lookup,
    nsmgr: nses,
    backend,
    pool,
    isRemote: o.isRemote,
    forwarderService: svc,
  });
  let server: GrpcServer | undefined;
  let reg: NseRegistryClient | undefined;
  const cleanup = async () => {
    unlisten();
    life.abort();
    if (server) await closeQuietly("grpc server", log, () => server!.close());
    await closeQuietly("registry client", log, () => reg?.close());
    lookup.close();
    nses.close();
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
    reg = registryClients(o, b).nse();
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
