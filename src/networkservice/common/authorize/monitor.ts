/**
 * authorizeMonitor (upstream `sdk/pkg/tools/monitorconnection/authorize`, policy
 * monitor/service_connection): a caller may monitor only connections it owns (ConnectionOwners,
 * filled by authorizeServer). A selector naming connection ids, none of them the caller's, is
 * refused with PermissionDenied; a selector by name only (or empty) sees only the caller's own
 * connections. `self`, our own SPIFFE ID (an operator's tool running as this component), sees all.
 */
import type { ConnectionEvent } from "../../../api/index.js";
import { authorizationDenied, callerIdentity, type MonitorElement } from "../../../core/index.js";
import type { ConnectionOwners } from "./policies.js";

export function authorizeMonitor(
  owners: ConnectionOwners,
  o: { self?: () => string | undefined } = {},
): MonitorElement {
  return {
    async *monitorConnections(sel, ctx, next) {
      const peer = callerIdentity(ctx, "monitor");
      if (!peer || peer.id === o.self?.()) {
        yield* next.monitorConnections(sel, ctx);
        return;
      }
      const id = peer.id;
      const ids = sel.pathSegments.map((s) => s.id).filter(Boolean);
      if (ids.length && !ids.some((x) => owners.owns(id, x)))
        throw authorizationDenied(
          "monitor",
          "service_connection",
          `${id} owns none of the connections ${JSON.stringify(ids)}`,
        );
      for await (const ev of next.monitorConnections(sel, ctx)) {
        const mine: ConnectionEvent["connections"] = {};
        for (const [k, c] of Object.entries(ev.connections)) if (owners.owner(c.id) === id) mine[k] = c;
        yield { ...ev, connections: mine };
      }
    },
  };
}
