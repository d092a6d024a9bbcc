/**
 * nsmgr's own registry (upstream `sdk/pkg/networkservice/chains/nsmgr/server.go`): what NSEs and forwarders on this node register
 * with. NSEs get an expiry with timers (nsmgr unregisters them upstream if they stop
 * refreshing), client info labels, and `localbypass`: upstream they are stored with the nsmgr's
 * URL, callers and local Finds see their real URL. Without `registryUrl` everything is stored
 * in memory here; with it, calls go to the remote registry (retry, heal: an nsmgr re-registers
 * its NSEs when the registry restarts).
 *
 *   const reg = nsmgrRegistry({ nsmgrUrl: "tcp://10.0.0.1:5001", registryUrl: "tcp://registry:5002", signal });
 *   await serve(urls, { networkService, nseRegistry: reg.nse, nsRegistry: reg.ns });
 */
import {
  dial,
  getProcessIdentity,
  nsChain,
  nseChain,
  type GrpcConn,
  type NseRegistryChain,
  type NseRegistryServer,
  type NsRegistryChain,
  type NsRegistryServer,
} from "../../core/index.js";
import { memoryStore } from "../store/memory.js";
import { Replica } from "../store/replica.js";
import { setMaxListeners } from "node:events";
import { type Logger, silentLogger } from "../../tools/log.js";
import { authorizeNseServer, type RegistryPolicy } from "../common/authorize/server.js";
import { beginNseServer } from "../common/begin/server.js";
import { clientInfoNse } from "../common/clientinfo/server.js";
import { DEFAULT_EXPIRE_PERIOD_MS, expireNseServer } from "../common/expire/server.js";
import { localBypassNseServer } from "../common/localbypass/server.js";
import { recvFdNseServer } from "../common/recvfd/server.js";
import { storeNseServer, storeNsServer } from "../common/store/server.js";
import { validateNseServer, validateNsServer } from "../common/validate/server.js";
import { NS, NSE } from "../tools.js";
import { updatePathNseServer, updatePathNsServer } from "../common/updatepath/server.js";
import { pathTokensRemote, processTokens } from "../common/updatepath/remote.js";
import { authorizeRegistryClient } from "../common/authorize/client.js";
import type { TokenGenerator } from "../../tools/token/index.js";
import { nseRegistryClientOver, nsRegistryClientOver } from "./client.js";

export interface NsmgrRegistryOptions {
  /** NSE ownership checks (registry_client_allowed); default on when the process has a SPIFFE identity */
  authorize?: boolean;
  /** custom policies (NSM_REGISTRY_SERVER_POLICIES) checked with `authorize` */
  policies?: readonly RegistryPolicy[];
  /** the nsmgr's published URL (what other nodes dial); NSEs are registered upstream with it */
  nsmgrUrl: string;
  /** remote registry; none → in-memory registry inside nsmgr */
  registryUrl?: string;
  /** lifetime of an NSE registration that is not refreshed (default 1 min) */
  expirePeriodMs?: number;
  signal: AbortSignal;
  log?: Logger;
  dialTimeoutMs?: number;
  /** custom client policies (NSM_REGISTRY_CLIENT_POLICIES) checked on the remote registry's answers */
  clientPolicies?: readonly RegistryPolicy[];
  /** our token generator (default: signed with the process identity) */
  tokens?: () => TokenGenerator | Promise<TokenGenerator>;
  /** labels source for clientinfo (default process.env: NODE_NAME, POD_NAME, CLUSTER_NAME) */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface NsmgrRegistry {
  readonly nse: NseRegistryChain;
  readonly ns: NsRegistryChain;
  /** name → real URL of the NSEs registered through this nsmgr */
  readonly localBypass: ReadonlyMap<string, string>;
  close(): Promise<void>;
}

export function nsmgrRegistry(o: NsmgrRegistryOptions): NsmgrRegistry {
  const log = (o.log ?? silentLogger).child({ registry: "nsmgr" });
  const life = new AbortController();
  setMaxListeners(0, life.signal); // one listener per open watch stream
  const stop = () => life.abort();
  o.signal.addEventListener("abort", stop, { once: true });
  const closers: (() => unknown)[] = [];

  const tokens = o.tokens ?? processTokens("nsmgr");
  let nseNext: NseRegistryServer;
  let nsNext: NsRegistryServer;
  if (o.registryUrl) {
    const conn: GrpcConn = dial(o.registryUrl, { dialTimeoutMs: o.dialTimeoutMs });
    // our token and the registry path go with each call (upstream's per-RPC credentials, grpcmetadata)
    const nseClient = nseRegistryClientOver(
      pathTokensRemote(conn.nseRegistry, conn, tokens, authorizeRegistryClient({ custom: o.clientPolicies })),
      {
        signal: life.signal,
        log,
        refresh: false,
      },
    );
    const nsClient = nsRegistryClientOver(pathTokensRemote(conn.nsRegistry, conn, tokens), {
      signal: life.signal,
      log,
    });
    // no client-side refresh upstream: the NSEs' own refreshes pass through; heal covers restarts
    nseNext = nseClient;
    nsNext = nsClient;
    closers.push(
      () => nseClient.close(),
      () => nsClient.close(),
      () => conn.close(),
    );
  } else {
    const nseStore = memoryStore({ clone: NSE.clone });
    const nsStore = memoryStore({ clone: NS.clone });
    const nseEl = storeNseServer(new Replica(nseStore, { signal: life.signal, log }), { signal: life.signal, log });
    const nsEl = storeNsServer(new Replica(nsStore, { signal: life.signal, log }), { signal: life.signal, log });
    nseNext = nseChain(nseEl);
    nsNext = nsChain(nsEl);
    closers.push(
      () => nseEl.close(),
      () => nsEl.close(),
      () => nseStore.close(),
      () => nsStore.close(),
    );
  }

  const bypass = localBypassNseServer(o.nsmgrUrl);
  const expire = expireNseServer({
    periodMs: o.expirePeriodMs ?? DEFAULT_EXPIRE_PERIOD_MS,
    timers: true,
    signal: life.signal,
  });
  closers.unshift(() => expire.close());
  const nseInner = nseChain(
    updatePathNseServer({ tokens }),
    validateNseServer(),
    // who may register/unregister a name: on when this process has a SPIFFE identity (mTLS)
    (o.authorize ?? getProcessIdentity() !== undefined) ? authorizeNseServer({ custom: o.policies }) : {},
    beginNseServer({ signal: life.signal }),
    clientInfoNse(o.env),
    expire,
    recvFdNseServer(), // after expire, as upstream: an expired NSE's socket fd is closed too
    bypass,
  );
  const nsInner = nsChain(updatePathNsServer({ tokens }), validateNsServer());
  let closed: Promise<void> | undefined;
  return {
    nse: {
      register: (e, c, n) => nseInner.register(e, c, n ?? nseNext),
      find: (q, c, n) => nseInner.find(q, c, n ?? nseNext),
      unregister: (e, c, n) => nseInner.unregister(e, c, n ?? nseNext),
    },
    ns: {
      register: (e, c, n) => nsInner.register(e, c, n ?? nsNext),
      find: (q, c, n) => nsInner.find(q, c, n ?? nsNext),
      unregister: (e, c, n) => nsInner.unregister(e, c, n ?? nsNext),
    },
    localBypass: bypass.local,
    close() {
      closed ??= (async () => {
        o.signal.removeEventListener("abort", stop);
        life.abort();
        for (const c of closers) await c();
      })();
      return closed;
    },
  };
}
