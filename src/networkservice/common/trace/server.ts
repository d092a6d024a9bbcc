/**
 * traceServer (every server with TELEMETRY on): one span per Request/Close, a child of the caller's
 * span when the call carries a W3C `traceparent` header, and hands its own span on as the
 * `traceparent` of the calls this hop makes downstream, so one trace covers the whole path.
 * Attributes: nsm.connection_id, nsm.network_service, nsm.endpoint; errors set the span status.
 * upstream: the otelgrpc interceptors of sdk pkg/tools/opentelemetry.
 *
 *   const el = traceServer(otel.tracer);
 */
import { SpanKind, type Tracer } from "@opentelemetry/api";
import { INCOMING, type ServerElement } from "../../../core/index.js";
import { inSpan, parentContext, withTraceparent } from "./traceparent.js";

export function traceServer(tracer: Tracer): ServerElement {
  return {
    async request(req, ctx, next) {
      const c = req.connection;
      const parent = parentContext(ctx.get(INCOMING)?.metadata.get("traceparent")[0]?.toString());
      const span = tracer.startSpan(
        "NetworkService/Request",
        {
          kind: SpanKind.SERVER,
          attributes: {
            "nsm.connection_id": c?.id ?? "",
            "nsm.network_service": c?.networkService ?? "",
            "nsm.endpoint": c?.networkServiceEndpointName ?? "",
          },
        },
        parent,
      );
      return inSpan(span, async () => {
        const conn = await next.request(req, withTraceparent(ctx, span));
        span.setAttribute("nsm.endpoint", conn.networkServiceEndpointName);
        return conn;
      });
    },
    async close(conn, ctx, next) {
      const parent = parentContext(ctx.get(INCOMING)?.metadata.get("traceparent")[0]?.toString());
      const span = tracer.startSpan(
        "NetworkService/Close",
        {
          kind: SpanKind.SERVER,
          attributes: { "nsm.connection_id": conn.id, "nsm.network_service": conn.networkService },
        },
        parent,
      );
      return inSpan(span, () => next.close(conn, withTraceparent(ctx, span)));
    },
  };
}
