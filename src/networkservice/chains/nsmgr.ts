/**
 * The nsmgr chain (upstream sdk chains/nsmgr): an endpoint that picks a local forwarder for each
 * connection and connects to it. The forwarder finds the NSE; the client's netns files reach the
 * forwarder as fds (grpcfd on unix sockets: recvfd/sendfd on both sides, as upstream). The
 * registry services (local memory or proxy to NSM_REGISTRY_URL) are served beside it by the
 * caller (see sandbox / cmd/nsmgr).
 */
import type { NetworkServiceEndpoint } from "../../api/index.js";
import type { TokenGenerator } from "../../tools/token/index.js";
import { connectServer } from "../common/connect/server.js";
import { discoverForwarderServer } from "../common/discoverforwarder/server.js";
import { excludedPrefixesServer } from "../common/excludedprefixes/server.js";
import type { Logger } from "../../tools/log.js";
import { recvFdClient } from "../common/mechanisms/recvfd/client.js";
import { recvFdServer } from "../common/mechanisms/recvfd/server.js";
import { sendFdClient } from "../common/mechanisms/sendfd/client.js";
import { sendFdServer } from "../common/mechanisms/sendfd/server.js";
import type { ChannelPool } from "../common/dial/pool.js";
import { netnsClaim } from "../utils/netnsowner.js";
import type { RegistryLookup } from "../utils/registry.js";
import { passthroughClient } from "./client.js";
import { endpoint, type Endpoint } from "./endpoint.js";

export interface NsmgrOptions {
  name: string;
  tokens: TokenGenerator;
  signal: AbortSignal;
  /** the nsmgr's registry (forwarders and network services) */
  registry: RegistryLookup;
  /** channels to forwarders */
  pool: ChannelPool;
  /** NSM_FORWARDER_NETWORK_SERVICE_NAME (default "forwarder") */
  forwarderService?: string;
  /** which forwarders are ours (default all; createNsmgr: those registered through this nsmgr) */
  acceptForwarder?: (f: NetworkServiceEndpoint) => boolean;
  /** a YAML `Prefixes:` file whose prefixes every request excludes (nsm exclude-prefixes writes it) */
  excludedPrefixesFile?: string;
  log?: Logger;
}

export function nsmgr(o: NsmgrOptions): Endpoint {
  return endpoint({
    name: o.name,
    tokens: o.tokens,
    signal: o.signal,
    // a client that reuses another's connection id must not take its connection over
    claim: netnsClaim,
    extra: [
      ...(o.excludedPrefixesFile
        ? [excludedPrefixesServer({ file: o.excludedPrefixesFile, signal: o.signal, log: o.log })]
        : []),
      discoverForwarderServer(o.registry, { forwarderService: o.forwarderService, accept: o.acceptForwarder }),
      recvFdServer(), // the client's netns (and memif socket) fds
      connectServer(
        passthroughClient({
          name: o.name,
          tokens: o.tokens,
          pool: o.pool,
          extra: [recvFdClient(), sendFdClient()],
        }),
      ),
      sendFdServer(),
    ],
  });
}
