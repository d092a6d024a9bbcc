/**
 * W3C trace context (`traceparent: 00-<trace id>-<span id>-<flags>`) in gRPC metadata: read the
 * caller's, and add ours to the metadata of the calls made with a ctx (connectClient sends it).
 */
import { Metadata } from "@grpc/grpc-js";
import { ROOT_CONTEXT, SpanStatusCode, trace, TraceFlags, type Context, type Span } from "@opentelemetry/api";
import { messageOf, OUTGOING_METADATA, type Ctx } from "../../../core/index.js";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** the parent context a `traceparent` value names (ROOT_CONTEXT when none or malformed) */
export function parentContext(traceparent: string | undefined): Context {
  const m = traceparent ? TRACEPARENT.exec(traceparent.trim()) : null;
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: m[1]!,
    spanId: m[2]!,
    traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  });
}

/** Runs `fn` inside `span`: an error sets the span's status and is recorded, then rethrown; the span ends either way. */
export async function inSpan<T>(span: Span, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(e) });
    if (e instanceof Error) span.recordException(e);
    throw e;
  } finally {
    span.end();
  }
}

export function formatTraceparent(span: Span): string {
  const s = span.spanContext();
  return `00-${s.traceId}-${s.spanId}-0${s.traceFlags & TraceFlags.SAMPLED}`;
}

/** `ctx` whose outgoing calls carry `span` as their parent */
export function withTraceparent(ctx: Ctx, span: Span): Ctx {
  const md = ctx.get(OUTGOING_METADATA)?.clone() ?? new Metadata();
  md.set("traceparent", formatTraceparent(span));
  return ctx.withValue(OUTGOING_METADATA, md);
}
