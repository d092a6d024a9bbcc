/**
 * Client chains (upstream sdk chains/client). `client()` is what a workload uses: it keeps its
 * connections refreshed before tokens expire and heals them when the control plane loses them.
 * `passthroughClient()` is the inner client of nsmgr and forwarders: no begin/refresh/heal (the
 * server side serialises, and refresh is driven end-to-end by the NSC).
 *
 *   const nsc = client({ name: "nsc", signal, tokens, connectTo: "unix:///var/lib/networkservicemesh/nsm.io.sock",
 *     heal: {}, extra: [kernelMechanismClient()] });
 *   const conn = await nsc.request(create(NetworkServiceRequestSchema, { connection: { id: "nsc-0", networkService: "icmp" } }), newCtx({ timeoutMs: 15_000 }));
 */
import {
  beginClient,
  chain,
  getProcessIdentity,
  metadataClient,
  type Chain,
  type ClientElement,
} from "../../core/index.js";
import type { TokenGenerator } from "../../tools/token/index.js";
import { clientUrlClient } from "../common/clienturl/client.js";
import { authorizeClient } from "../common/authorize/client.js";
import { connectClient } from "../common/connect/client.js";
import { dialClient } from "../common/dial/client.js";
import { ChannelPool } from "../common/dial/pool.js";
import { healClient, type HealOptions } from "../common/heal/client.js";
import { refreshClient } from "../common/refresh/client.js";
import { upstreamRefreshClient } from "../common/upstreamrefresh/client.js";
import { trimPathClient } from "../common/trimpath/client.js";
import { updatePathClient } from "../common/updatepath/client.js";
import { MonitorHubs } from "../utils/monitorhub.js";

export interface ClientOptions {
  /** our segment name */
  name: string;
  signal: AbortSignal;
  /** signs our token for each call (default: none sent) */
  tokens?: TokenGenerator;
  /** the next hop, e.g. the nsmgr URL; default: whatever the context says (CLIENT_URL) */
  connectTo?: string;
  /** refresh before expiry (default true) */
  refresh?: boolean;
  /** heal options, or false for no healing (default false) */
  heal?: HealOptions | false;
  /** request again when the endpoint asks for it (REFRESH_REQUESTED; default false) */
  upstreamRefresh?: boolean;
  /** channels to share (default: a pool owned by this client, closed with `close()`) */
  pool?: ChannelPool;
  dialTimeoutMs?: number;
  authorize?: ClientElement;
  /** what makes this client special (mechanisms, clientinfo, ...), in request order */
  extra?: readonly ClientElement[];
}

export interface Client extends Chain {
  /** closes the client's own channel pool (not a shared one) */
  dispose(): void;
}

function owned(o: ClientOptions): { pool: ChannelPool; dispose: () => void } {
  if (o.pool) return { pool: o.pool, dispose: () => {} };
  const pool = new ChannelPool({ dialTimeoutMs: o.dialTimeoutMs });
  return { pool, dispose: () => pool.close() };
}

export function client(o: ClientOptions): Client {
  const { pool, dispose } = owned(o);
  // heal and upstreamrefresh both follow each connection at the next hop: one stream per next hop for both
  const hubs = (o.heal && o.heal.hubs) || new MonitorHubs(o.signal);
  const c = chain(
    updatePathClient(o.name),
    beginClient({ signal: o.signal }),
    metadataClient(),
    o.refresh === false ? {} : refreshClient(o.signal),
    clientUrlClient(o.connectTo),
    o.heal ? healClient(o.signal, { ...o.heal, hubs }) : {},
    o.upstreamRefresh ? upstreamRefreshClient(o.signal, { hubs }) : {},
    dialClient(pool),
    ...(o.extra ?? []),
    // upstream's client policies when this process has a SPIFFE identity (docs/security.md)
    o.authorize ?? (getProcessIdentity() ? authorizeClient() : {}),
    trimPathClient(),
    connectClient({ tokens: o.tokens }),
  );
  return Object.assign(c, { dispose });
}

/** The inner client of a passthrough process (nsmgr, forwarder): the next hop comes from the context. */
export function passthroughClient(o: {
  name: string;
  tokens?: TokenGenerator;
  pool: ChannelPool;
  extra?: readonly ClientElement[];
}): Chain {
  return chain(
    updatePathClient(o.name),
    metadataClient(),
    dialClient(o.pool),
    ...(o.extra ?? []),
    trimPathClient(),
    connectClient({ tokens: o.tokens }),
  );
}
