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
  getProcessIdentity,
  metadataServer,
  type BeginOptions,
  type Chain,
  type MonitorElement,
  type ServerElement,
} from "../../core/index.js";
import { authorizeMonitor } from "../common/authorize/monitor.js";
import { ConnectionOwners } from "../common/authorize/policies.js";
import { authorizeServer, type CustomPolicy } from "../common/authorize/server.js";
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
  /**
   * authorization; default: upstream's default policies (+ `policies`) when the process has a
   * SPIFFE identity (docs/security.md), else allow all as upstream's authorize.Any; null = allow all
   */
  authorize?: ServerElement | null;
  /** monitor authorization; default paired with the default `authorize` */
  authorizeMonitor?: MonitorElement | null;
  /** custom Rego policies (NSM_*_POLICIES) for the default authorize */
  policies?: readonly CustomPolicy[];
  /** what makes this endpoint special, in request order */
  extra?: readonly ServerElement[];
  /** begin's check that a Request for an established id comes from its owner (nsmgr: by netns) */
  claim?: BeginOptions["claim"];
}

export interface Endpoint {
  readonly networkService: Chain;
  readonly monitor: MonitorServer;
}

/** `monitor` with `guard` in front of its MonitorConnection service */
function guarded(monitor: MonitorServer, guard: MonitorElement | null): MonitorServer {
  if (!guard?.monitorConnections) return monitor;
  const g = guard.monitorConnections.bind(guard);
  return {
    request: (r, c, n) => monitor.request!(r, c, n),
    close: (x, c, n) => monitor.close!(x, c, n),
    get connections() {
      return monitor.connections;
    },
    get subscribers() {
      return monitor.subscribers;
    },
    monitorConnections: (sel, ctx) => g(sel, ctx, monitor),
  };
}

export function endpoint(o: EndpointOptions): Endpoint {
  const monitor = monitorServer(o.signal);
  const secure = getProcessIdentity() !== undefined;
  const owners = new ConnectionOwners();
  const authorize =
    o.authorize !== undefined ? o.authorize : secure ? authorizeServer({ owners, custom: o.policies }) : null;
  const monitorGuard =
    o.authorizeMonitor !== undefined
      ? o.authorizeMonitor
      : secure && o.authorize === undefined
        ? authorizeMonitor(owners, { self: () => getProcessIdentity()?.svid().id })
        : null;
  const networkService = chain(
    updatePathServer(o.name),
    beginServer({ signal: o.signal, claim: o.claim }),
    updateTokenServer(o.tokens),
    authorize ?? {},
    metadataServer(),
    timeoutServer(o.signal),
    monitor,
    trimPathServer(),
    ...(o.extra ?? []),
  );
  return { networkService, monitor: guarded(monitor, monitorGuard) };
}
