/**
 * The endpoint chain every server builds on (upstream sdk chains/endpoint): our path segment,
 * one call at a time per connection, tokens, metadata, idle close, monitoring, trimmed path, then
 * what makes this endpoint special. Returns the two services to serve:
 *
 *   const ep = endpoint({ name: "icmp-server", tokens, signal, extra: [point2PointIpamServer(["10.0.0.0/24"])] });
 *   const srv = await serve(["unix:///tmp/nse.sock"], ep);
 */
import {
  beginServer,
  chain,
  metadataServer,
  type BeginOptions,
  type Chain,
  type ServerElement,
} from "../../core/index.js";
import type { TokenGenerator } from "../../tools/token/index.js";
import { monitorServer, type MonitorServer } from "../common/monitor/server.js";
import { timeoutServer } from "../common/timeout/server.js";
import { trimPathServer } from "../common/trimpath/server.js";
import { updatePathServer } from "../common/updatepath/server.js";
import { updateTokenServer } from "../common/updatetoken/server.js";

export interface EndpointOptions {
  /** segment name, e.g. the NSE or process name */
  name: string;
  tokens: TokenGenerator;
  /** the component's lifetime: ends timers and monitor streams */
  signal: AbortSignal;
  /** authorization (default: allow all, as upstream's authorize.Any; OPA policies come with security) */
  authorize?: ServerElement;
  /** what makes this endpoint special, in request order */
  extra?: readonly ServerElement[];
  /** begin's check that a Request for an established id comes from its owner (nsmgr: by netns) */
  claim?: BeginOptions["claim"];
}

export interface Endpoint {
  readonly networkService: Chain;
  readonly monitor: MonitorServer;
}

export function endpoint(o: EndpointOptions): Endpoint {
  const monitor = monitorServer(o.signal);
  const networkService = chain(
    updatePathServer(o.name),
    beginServer({ signal: o.signal, claim: o.claim }),
    updateTokenServer(o.tokens),
    o.authorize ?? {},
    metadataServer(),
    timeoutServer(o.signal),
    monitor,
    trimPathServer(),
    ...(o.extra ?? []),
  );
  return { networkService, monitor };
}
