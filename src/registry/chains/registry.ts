/**
 * The registry server (upstream `sdk/pkg/registry/chains/memory` as cmd-registry-memory
 * serves it, plus an etcd backend):
 * both registries as chains over one store. Serve it with
 *
 *   const r = await createRegistry({ signal, store: "etcd://127.0.0.1:2379" });
 *   const srv = await serve(["tcp://:5002"], { nseRegistry: r.nse, nsRegistry: r.ns });
 *   ...; await srv.close(); await r.close();
 *
 * First, as upstream, the registry path (updatepath: tokens and path ids beside the call), then
 * authorize.
 */
import {
  fromBinary,
  NetworkServiceEndpointSchema,
  NetworkServiceSchema,
  toBinary,
  type NetworkService,
  type NetworkServiceEndpoint,
} from "../../api/index.js";
import {
  dial,
  getProcessIdentity,
  nsChain,
  nseChain,
  type GrpcConn,
  type NseRegistryChain,
  type NsRegistryChain,
} from "../../core/index.js";
import { setMaxListeners } from "node:events";
import { type Logger, silentLogger } from "../../tools/log.js";
import { authorizeNseServer, type RegistryPolicy } from "../common/authorize/server.js";
import { beginNseServer } from "../common/begin/server.js";
import { DEFAULT_EXPIRE_PERIOD_MS, expireNseServer } from "../common/expire/server.js";
import { interdomainServer } from "../common/interdomain/server.js";
import { setPayloadNsServer } from "../common/setpayload/server.js";
import { setRegistrationTimeNseServer } from "../common/setregistrationtime/server.js";
import { storeNseServer, storeNsServer } from "../common/store/server.js";
import { validateNseServer, validateNsServer } from "../common/validate/server.js";
import { updatePathNseServer, updatePathNsServer } from "../common/updatepath/server.js";
import { processTokens } from "../common/updatepath/remote.js";
import { openStore } from "../store/open.js";
import { Replica } from "../store/replica.js";
import type { RegistryStore } from "../store/store.js";
import { NS, NSE } from "../tools.js";

export interface RegistryOptions {
  /** for logs */
  name?: string;
  /** NSE ownership checks (registry_client_allowed); default on when the process has a SPIFFE identity */
  authorize?: boolean;
  /** custom policies (NSM_REGISTRY_SERVER_POLICIES) checked with `authorize` */
  policies?: readonly RegistryPolicy[];
  /** lifetime of a registration that is not refreshed (default 1 min) */
  expirePeriodMs?: number;
  /** "memory" (default), "etcd://host:port[,host:port][/prefix]" or "k8s[:namespace]" */
  store?: "memory" | string;
  /** kubeconfig for the k8s store (default KUBECONFIG, else in-cluster) */
  kubeconfig?: string;
  /** where interdomain (name@domain) registrations and queries go */
  proxyRegistryUrl?: string;
  dialTimeoutMs?: number;
  /** NSM_MAX_TOKEN_LIFETIME of our path tokens */
  maxTokenLifetimeMs?: number;
  signal: AbortSignal;
  log?: Logger;
}

export interface Registry {
  readonly nse: NseRegistryChain;
  readonly ns: NsRegistryChain;
  /** resolves once both replicas hold the store's current state */
  readonly ready: Promise<void>;
  readonly nseStore: RegistryStore<NetworkServiceEndpoint>;
  readonly nsStore: RegistryStore<NetworkService>;
  close(): Promise<void>;
}

export async function createRegistry(o: RegistryOptions): Promise<Registry> {
  const log = (o.log ?? silentLogger).child({ registry: o.name ?? "registry" });
  const spec = o.store ?? "memory";
  const life = new AbortController();
  setMaxListeners(0, life.signal); // one listener per open watch stream
  const stop = () => life.abort();
  o.signal.addEventListener("abort", stop, { once: true });
  const nseStore = await openStore<NetworkServiceEndpoint>(spec, {
    clone: NSE.clone,
    prefix: "/nsm/registry/nse/",
    entity: "nse",
    kubeconfig: o.kubeconfig,
    codec: {
      encode: (v) => toBinary(NetworkServiceEndpointSchema, v),
      decode: (b) => fromBinary(NetworkServiceEndpointSchema, b),
    },
  });
  const nsStore = await openStore<NetworkService>(spec, {
    clone: NS.clone,
    prefix: "/nsm/registry/ns/",
    entity: "ns",
    kubeconfig: o.kubeconfig,
    codec: { encode: (v) => toBinary(NetworkServiceSchema, v), decode: (b) => fromBinary(NetworkServiceSchema, b) },
  });
  const nseReplica = new Replica(nseStore, { signal: life.signal, log });
  const nsReplica = new Replica(nsStore, { signal: life.signal, log });
  let proxy: GrpcConn | undefined;
  if (o.proxyRegistryUrl) proxy = dial(o.proxyRegistryUrl, { dialTimeoutMs: o.dialTimeoutMs });

  // one watch response per change for all streams: no element of the chains below (updatepath,
  // validate, authorize, interdomain, begin, setregistrationtime, expire, setpayload) has a
  // find() that edits responses, and the transport only serializes them. A caller using these
  // chains in-process must not edit what find() yields.
  const nseStoreEl = storeNseServer(nseReplica, { signal: life.signal, log, shareWatchResponses: true });
  const nsStoreEl = storeNsServer(nsReplica, { signal: life.signal, log, shareWatchResponses: true });
  const tokens = processTokens(o.name ?? "registry", o.maxTokenLifetimeMs);
  const nse = nseChain(
    updatePathNseServer({ tokens }),
    validateNseServer(),
    // who may register/unregister a name: on when this process has a SPIFFE identity (mTLS)
    (o.authorize ?? getProcessIdentity() !== undefined) ? authorizeNseServer({ custom: o.policies }) : {},
    // before begin: a name@domain registration of our own domain comes back here stripped, under
    // the same name, while the first call is still in flight (begin would make it wait for itself)
    interdomainServer(NSE, proxy && proxy.nseRegistry, (e) => e.networkServiceNames),
    beginNseServer({ signal: life.signal }),
    setRegistrationTimeNseServer(),
    expireNseServer({ periodMs: o.expirePeriodMs ?? DEFAULT_EXPIRE_PERIOD_MS }),
    nseStoreEl,
  );
  const ns = nsChain(
    updatePathNsServer({ tokens }),
    validateNsServer(),
    setPayloadNsServer(),
    interdomainServer(NS, proxy && proxy.nsRegistry),
    nsStoreEl,
  );
  log.info({ store: nseStore.kind, expirePeriodMs: o.expirePeriodMs ?? DEFAULT_EXPIRE_PERIOD_MS }, "registry: started");
  let closed: Promise<void> | undefined;
  return {
    nse,
    ns,
    nseStore,
    nsStore,
    ready: Promise.all([nseReplica.ready, nsReplica.ready]).then(() => {}),
    close() {
      closed ??= (async () => {
        o.signal.removeEventListener("abort", stop);
        life.abort();
        nseStoreEl.close();
        nsStoreEl.close();
        proxy?.close();
        await Promise.all([nseStore.close(), nsStore.close()]);
      })();
      return closed;
    },
  };
}
