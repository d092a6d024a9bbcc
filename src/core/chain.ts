/**
 * Chains: a Request travels down a list of elements and the Connection travels back up. Each
 * element gets `next` (the rest of the chain, then whatever follows the chain) and calls it once.
 * `chain()` returns an element, so chains nest; called without `next` a chain ends at a tail
 * that returns `req.connection` (Request) or nothing (Close).
 *
 *   const server = chain(updatePathServer("nsmgr"), beginServer(), metadataServer(), myElement());
 *   const conn = await server.request(req, ctx);
 *
 * Client elements have the same shape as server elements; a client element keeps its state in
 * `ctx.clientMeta` instead of `ctx.meta`. A method left out of an element passes through.
 */
import type { Connection, NetworkServiceRequest } from "../api/index.js";
import type { Ctx } from "./context.js";
import { NsmError, status } from "../tools/errors.js";

/** A whole NetworkService server or client: what a chain looks like from outside. */
export interface NetworkServiceServer {
  request(req: NetworkServiceRequest, ctx: Ctx): Promise<Connection>;
  close(conn: Connection, ctx: Ctx): Promise<void>;
}
export type NetworkServiceClient = NetworkServiceServer;

/** One element of a NetworkService chain. */
export interface ServerElement {
  request?(req: NetworkServiceRequest, ctx: Ctx, next: NetworkServiceServer): Promise<Connection>;
  close?(conn: Connection, ctx: Ctx, next: NetworkServiceServer): Promise<void>;
}
/** Same shape as a server element; by convention its state lives in `ctx.clientMeta`. */
export type ClientElement = ServerElement;

/** A composed chain: an element, and a whole server when called without `next`. */
export interface Chain extends ServerElement {
  request(req: NetworkServiceRequest, ctx: Ctx, next?: NetworkServiceServer): Promise<Connection>;
  close(conn: Connection, ctx: Ctx, next?: NetworkServiceServer): Promise<void>;
}

/** The end of every chain: echoes the request's connection. */
export const tail: NetworkServiceServer = {
  async request(req) {
    if (!req.connection) throw new NsmError(status.INVALID_ARGUMENT, "request has no connection");
    return req.connection;
  },
  async close() {},
};

/** Builds and caches the linked `next` objects of `els` for one outer `next`. */
function linker<E, S>(els: readonly E[], bind: (el: E, rest: S) => S): (outer: S) => S {
  const cache = new WeakMap<object, S>();
  return (outer: S) => {
    let linked = cache.get(outer as object);
    if (!linked) {
      linked = outer;
      for (let i = els.length - 1; i >= 0; i--) linked = bind(els[i]!, linked);
      cache.set(outer as object, linked);
    }
    return linked;
  };
}

export function chain(...elements: readonly ServerElement[]): Chain {
  const link = linker<ServerElement, NetworkServiceServer>(elements, (el, rest) => ({
    request: el.request ? (r, c) => el.request!(r, c, rest) : (r, c) => rest.request(r, c),
    close: el.close ? (x, c) => el.close!(x, c, rest) : (x, c) => rest.close(x, c),
  }));
  return {
    request: (req, ctx, next = tail) => link(next).request(req, ctx),
    close: (conn, ctx, next = tail) => link(next).close(conn, ctx),
  };
}

/** Element that hands every call to `server` (a whole chain or a remote), ignoring `next`. */
export function connectTo(server: NetworkServiceServer): ServerElement {
  return { request: (r, c) => server.request(r, c), close: (x, c) => server.close(x, c) };
}

export { linker as _linker };
