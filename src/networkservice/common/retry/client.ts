/**
 * retryClient: wraps a whole client so each Request/Close is tried again every `intervalMs`
 * (default 200 ms) with a fresh copy of its argument and a per-try timeout (default 15 s),
 * until it succeeds or the caller's context ends (upstream sdk .../retry).
 */
import { clone, ConnectionSchema, NetworkServiceRequestSchema } from "../../../api/index.js";
import { messageOf, NsmError, type Ctx, type NetworkServiceClient } from "../../../core/index.js";

export interface RetryOptions {
  tryTimeoutMs?: number;
  intervalMs?: number;
}

async function retry<T>(ctx: Ctx, o: RetryOptions, what: string, fn: (c: Ctx) => Promise<T>): Promise<T> {
  const interval = o.intervalMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(ctx.withTimeout(o.tryTimeoutMs ?? 15_000));
    } catch (e) {
      if (ctx.signal.aborted || ctx.remaining() <= interval) throw NsmError.from(e, ctx.signal);
      ctx.log.warn({ attempt, err: messageOf(e) }, `${what} failed, retrying in ${interval} ms`);
      await new Promise<void>((res) => {
        const t = setTimeout(done, interval);
        function done() {
          clearTimeout(t);
          ctx.signal.removeEventListener("abort", done);
          res();
        }
        ctx.signal.addEventListener("abort", done, { once: true });
      });
      if (ctx.signal.aborted) throw NsmError.from(e, ctx.signal);
    }
  }
}

export function retryClient(client: NetworkServiceClient, o: RetryOptions = {}): NetworkServiceClient {
  return {
    request: (req, ctx) =>
      retry(ctx, o, `request ${req.connection?.id ?? ""}`, (c) =>
        client.request(clone(NetworkServiceRequestSchema, req), c),
      ),
    close: (conn, ctx) => retry(ctx, o, `close ${conn.id}`, (c) => client.close(clone(ConnectionSchema, conn), c)),
  };
}
