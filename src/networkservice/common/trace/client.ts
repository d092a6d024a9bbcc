/**
 * traceClient (NSC with TELEMETRY on): a CLIENT span per Request/Close (refreshes and heals
 * included, as they pass through the chain again), sent on as the `traceparent` of the call to
 * the nsmgr, so the nsmgr's, forwarders' and endpoint's spans join the client's trace.
 *
 *   const nsc = client({ ..., extra: [traceClient(otel.tracer)] });
 */
import { SpanKind, type Tracer } from "@opentelemetry/api";
import type { ClientElement } from "../../../core/index.js";
import { inSpan, withTraceparent } from "./traceparent.js";

export function traceClient(tracer: Tracer): ClientElement {
  const call = async <T>(
    name: string,
    id: string,
    service: string,
    fn: (s: Parameters<typeof withTraceparent>[1]) => Promise<T>,
  ) => {
    const span = tracer.startSpan(name, {
      kind: SpanKind.CLIENT,
      attributes: { "nsm.connection_id": id, "nsm.network_service": service },
    });
    return inSpan(span, () => fn(span));
  };
  return {
    request: (req, ctx, next) =>
      call("NetworkService/Request", req.connection?.id ?? "", req.connection?.networkService ?? "", (span) =>
        next.request(req, withTraceparent(ctx, span)),
      ),
    close: (conn, ctx, next) =>
      call("NetworkService/Close", conn.id, conn.networkService, (span) =>
        next.close(conn, withTraceparent(ctx, span)),
      ),
  };
}
