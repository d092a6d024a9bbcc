/**
 * The forwarder chain, control-plane half (the forwarder of upstream
 * `sdk/pkg/tools/sandbox/node.go` and cmd-forwarder-* `internal/xconnectns`):
 * an endpoint that discovers the NSE (through its nsmgr's registry), tries candidates round
 * robin, agrees on mechanisms and lets the datapath backend plumb the cross connect.
 */
import { statSync } from "node:fs";
import type { DatapathBackend } from "../../forwarder/backend.js";
import { interdomain } from "../../registry/tools.js";
import type { TokenGenerator } from "../../tools/token/index.js";
import { connectServer } from "../common/connect/server.js";
import type { ChannelPool } from "../common/dial/pool.js";
import { discoverServer } from "../common/discover/server.js";
import { recvFdClient } from "../common/mechanisms/recvfd/client.js";
import { recvFdServer } from "../common/mechanisms/recvfd/server.js";
import { sendFdClient } from "../common/mechanisms/sendfd/client.js";
import { sendFdServer } from "../common/mechanisms/sendfd/server.js";
import { roundRobinServer } from "../common/roundrobin/server.js";
import { xconnectServer, type XconnectOptions } from "../common/xconnect/server.js";
import type { RegistryLookup } from "../utils/registry.js";
import { findNses } from "../utils/registry.js";
import { passthroughClient } from "./client.js";
import { endpoint, type Endpoint } from "./endpoint.js";

export interface ForwarderOptions {
  name: string;
  tokens: TokenGenerator;
  signal: AbortSignal;
  /** the nsmgr's registry, where NSEs are found */
  registry: RegistryLookup;
  backend: DatapathBackend;
  pool: ChannelPool;
  /** default: {@link servedElsewhere} */
  isRemote?: XconnectOptions["isRemote"];
  /** NSM_NSNAME: the service forwarders register under (default "forwarder") */
  forwarderService?: string;
}

/**
 * Local or remote is decided by who serves the NSE, not by its URL's scheme: an NSE registered
 * through another node's nsmgr is published under that nsmgr's URL, the same URL the forwarders
 * of that node are published under (nsmgr localbypass), whereas our nsmgr hands out the real URL
 * of its own NSEs (unix or tcp alike). So the next hop is remote exactly when it is the URL of
 * some forwarder's nsmgr. upstream (filtermechanisms) looks at the scheme, which coincides
 * because its NSEs always serve on unix sockets; ours may serve on tcp on the same node.
 * An NSE of another domain (`name@domain`) on a tcp URL is reached through this domain's
 * nsmgr-proxy, which registers as no forwarder: remote too.
 */
export function servedElsewhere(registry: RegistryLookup, forwarderService = "forwarder"): XconnectOptions["isRemote"] {
  return async (url, ctx, conn) => {
    // an NSE of another domain (name@domain) reached over tcp: the next hop is our nsmgr-proxy
    if (conn && interdomain.is(conn.networkServiceEndpointName) && url.startsWith("tcp://")) return true;
    const fwds = await findNses(registry, { networkServiceNames: [forwarderService] }, ctx);
    const id = identity(url);
    return fwds.some((f) => f.url === url || (id !== undefined && identity(f.url) === id));
  };
}

/** A unix URL's socket identity ("dev:ino"): the same socket may reach us as different fds. */
function identity(url: string): string | undefined {
  if (!url.startsWith("unix://")) return undefined;
  try {
    const st = statSync(url.slice("unix://".length), { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

export function forwarder(o: ForwarderOptions): Endpoint {
  return endpoint({
    name: o.name,
    tokens: o.tokens,
    signal: o.signal,
    extra: [
      // before xconnect: the answer we send back carries the caller's mechanism (its netns URL
      // swapped back to the inode it sent), never the NSE-side one
      sendFdServer(),
      recvFdServer(), // the client's netns arrives as an fd on unix sockets
      discoverServer(o.registry),
      roundRobinServer(),
      xconnectServer(o.backend, { isRemote: o.isRemote ?? servedElsewhere(o.registry, o.forwarderService) }),
      connectServer(
        passthroughClient({
          name: o.name,
          tokens: o.tokens,
          pool: o.pool,
          extra: [recvFdClient(), sendFdClient()], // the NSE's netns comes back as an fd
        }),
      ),
    ],
  });
}
