/**
 * Test-only elements and helpers: `testCtx()` (one connection's metadata, 1 s deadline),
 * `newRequest(id)`, `checkRequest(fn)`, `checkClose(fn)`, `injectError({ onRequest: [0] })`.
 */
import { create, NetworkServiceRequestSchema, type Connection, type NetworkServiceRequest } from "../../api/index.js";
import type { ServerElement } from "../chain.js";
import { Ctx, newCtx } from "../context.js";
import { NsmError, status } from "../../tools/errors.js";
import { Meta } from "../metadata.js";

export function testCtx(o: { timeoutMs?: number } = {}): Ctx {
  return newCtx({ timeoutMs: o.timeoutMs ?? 1000 }).with({ meta: new Meta(), clientMeta: new Meta() });
}

export function newRequest(id: string, o: { networkService?: string; endpoint?: string } = {}): NetworkServiceRequest {
  return create(NetworkServiceRequestSchema, {
    connection: { id, networkService: o.networkService ?? "test-ns", networkServiceEndpointName: o.endpoint ?? "" },
  });
}

/** Calls `fn` with every request that passes; `fn` may throw to fail the request. */
export function checkRequest(fn: (req: NetworkServiceRequest, ctx: Ctx) => unknown): ServerElement {
  return {
    async request(req, ctx, next) {
      await fn(req, ctx);
      return next.request(req, ctx);
    },
  };
}
export function checkClose(fn: (conn: Connection, ctx: Ctx) => unknown): ServerElement {
  return {
    async close(conn, ctx, next) {
      await fn(conn, ctx);
      return next.close(conn, ctx);
    },
  };
}

/** Fails the n-th Request / Close (0-based counts listed) with an "injected" error. */
export function injectError(
  o: { onRequest?: number[]; onClose?: number[]; code?: status } = {},
): ServerElement & { requests: number; closes: number } {
  const el = {
    requests: 0,
    closes: 0,
    async request(
      req: NetworkServiceRequest,
      ctx: Ctx,
      next: { request(r: NetworkServiceRequest, c: Ctx): Promise<Connection> },
    ) {
      const n = el.requests++;
      if (o.onRequest?.includes(n) ?? false)
        throw new NsmError(o.code ?? status.INTERNAL, `injected error on request #${n}`);
      return next.request(req, ctx);
    },
    async close(conn: Connection, ctx: Ctx, next: { close(c: Connection, x: Ctx): Promise<void> }) {
      const n = el.closes++;
      if (o.onClose?.includes(n) ?? false)
        throw new NsmError(o.code ?? status.INTERNAL, `injected error on close #${n}`);
      return next.close(conn, ctx);
    },
  };
  return el;
}

/** A promise with its resolve function, for ordering tests without sleeps. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void, reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}
