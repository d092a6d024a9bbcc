import { test } from "node:test";
import assert from "node:assert/strict";
import { Metadata } from "@grpc/grpc-js";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { chain, INCOMING, OUTGOING_METADATA, type Ctx } from "../../../core/index.js";
import { checkRequest, injectError, newRequest, testCtx } from "../../../core/testing/index.js";
import { traceClient } from "./client.js";
import { traceServer } from "./server.js";
import { parentContext } from "./traceparent.js";

function tracing() {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  return { exporter, tracer: provider.getTracer("t"), provider };
}

/** what a grpc server hands the next hop: the metadata the previous hop sent */
const asIncoming = (ctx: Ctx, md: Metadata) =>
  ctx.withValue(INCOMING, { metadata: md, peer: "test", sendHeaders: () => undefined });

test("trace: the client's span travels as traceparent and parents the next hop's server span", async () => {
  const { exporter, tracer, provider } = tracing();
  let sent: Metadata | undefined;
  const hop2 = chain(traceServer(tracer));
  const hop1 = chain(
    traceClient(tracer),
    checkRequest((_req, ctx) => {
      sent = ctx.get(OUTGOING_METADATA);
    }),
  );
  const ctx = testCtx();
  await hop1.request(newRequest("conn-1"), ctx);
  assert.match(String(sent?.get("traceparent")[0]), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  await hop2.request(newRequest("conn-1"), asIncoming(testCtx(), sent!));
  const [client, server] = exporter.getFinishedSpans();
  assert.equal(client?.kind, SpanKind.CLIENT);
  assert.equal(server?.kind, SpanKind.SERVER);
  assert.equal(server?.spanContext().traceId, client?.spanContext().traceId);
  assert.equal(server?.parentSpanContext?.spanId, client?.spanContext().spanId);
  assert.equal(server?.attributes["nsm.connection_id"], "conn-1");
  await provider.shutdown();
});

test("trace: a failed Request ends its span with an error status; other metadata is kept", async () => {
  const { exporter, tracer, provider } = tracing();
  const md = new Metadata();
  md.set("authorization", "token");
  let out: Metadata | undefined;
  const server = chain(
    traceServer(tracer),
    checkRequest((_r, c) => {
      out = c.get(OUTGOING_METADATA);
    }),
    injectError({ onRequest: [0] }),
  );
  await assert.rejects(server.request(newRequest("c"), testCtx().withValue(OUTGOING_METADATA, md)), /injected/);
  const [span] = exporter.getFinishedSpans();
  assert.equal(span?.status.code, SpanStatusCode.ERROR);
  assert.equal(out?.get("authorization")[0], "token");
  await provider.shutdown();
});

test("trace: a malformed traceparent starts a new trace", () => {
  for (const bad of [undefined, "", "00-abc-def-01", `00-${"0".repeat(32)}-${"1".repeat(16)}-01`])
    assert.equal(parentContext(bad), parentContext(undefined));
});
