/**
 * The forwarder chain, control-plane half (the forwarder of upstream
 * `sdk/pkg/tools/sandbox/node.go` and cmd-forwarder-* `internal/xconnectns`):
 * an endpoint that discovers the NSE (through its nsmgr's registry), tries candidates round
 * robin, agrees on mechanisms and lets the datapath backend plumb the cross connect.
 */
import type { DatapathBackend } from "../../forwarder/backend.js";
import type { TokenGenerator } from "../../tools/token/index.js";
import { connectServer } from "../common/connect/server.js";
import type { ChannelPool } from "../common/dial/pool.js";
import { discoverServer } from "../common/discover/server.js";
import { roundRobinServer } from "../common/roundrobin/server.js";
import { xconnectServer, type XconnectOptions } from "../common/xconnect/server.js";
import type { RegistryLookup } from "../utils/registry.js";
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
  isRemote?: XconnectOptions["isRemote"];
}

export function forwarder(o: ForwarderOptions): Endpoint {
  return endpoint({
    name: o.name,
    tokens: o.tokens,
    signal: o.signal,
    extra: [
      discoverServer(o.registry),
      roundRobinServer(),
      xconnectServer(o.backend, { isRemote: o.isRemote }),
      connectServer(passthroughClient({ name: o.name, tokens: o.tokens, pool: o.pool })),
    ],
  });
}
