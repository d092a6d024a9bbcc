/**
 * grpc-js adapters. `serve()` exposes chains as a gRPC server on `unix:///path` or
 * `tcp://host:port` URLs; `dial()` opens one persistent channel to a URL whose `networkService`,
 * `monitor`, `nseRegistry` and `nsRegistry` act as the `next` hop of a client chain.
 *
 *   const srv = await serve(["unix:///tmp/nsm.sock"], { networkService: endpointChain });
 *   const conn = dial("unix:///tmp/nsm.sock");
 *   const c = await conn.networkService.request(req, newCtx({ timeoutMs: 1000 }));
 *   conn.close(); await srv.close();
 *
 * Context mapping: a server call's ctx has an AbortSignal that ends when the caller cancels or
 * the call ends, the caller's deadline, a logger with the connection id, and the incoming call
 * (metadata, peer) under `INCOMING`. A client call uses ctx.deadline as gRPC deadline, cancels
 * on ctx.signal, and sends `ctx.get(OUTGOING_METADATA)`.
 */
export * from "./grpc-common.js";
export * from "./grpc-server.js";
export * from "./grpc-client.js";
export * from "./grpc-security.js";
