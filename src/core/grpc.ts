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
import * as grpc from "@grpc/grpc-js";
import { mkdirSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import {
  MonitorConnectionDef,
  NetworkServiceDef,
  NetworkServiceEndpointRegistryDef,
  NetworkServiceRegistryDef,
  create,
  EmptySchema,
  type Connection,
  type ConnectionEvent,
  type MonitorScopeSelector,
  type NetworkServiceRequest,
} from "../api/index.js";
import { type Logger, silentLogger } from "../tools/log.js";
import { dialTarget, listenTarget, parseUrl, type NsmUrl } from "../tools/url.js";
import { FdChannelCredentials, listenFd, transceiverOfCall, type FdListener } from "../tools/grpcfd/grpc.js";
import type { FdTransceiver } from "../tools/grpcfd/socket.js";
import type { NetworkServiceServer } from "./chain.js";
import { Ctx, ctxKey } from "./context.js";
import { NsmError, messageOf, status } from "../tools/errors.js";
import type { MonitorConnectionServer } from "./monitor.js";
import type { NseRegistryServer, NsRegistryServer, RegistryServer } from "./registry.js";

/** The incoming gRPC call behind a server-side ctx. */
export interface IncomingCall {
  readonly metadata: grpc.Metadata;
  readonly peer: string;
  /** sends response headers (registry `path` header); once, before the first response */
  sendHeaders(md: grpc.Metadata): void;
  /** the connection's fd passing (grpcfd), when the call came over a unix socket */
  readonly fds?: FdTransceiver;
}
export const INCOMING = ctxKey<IncomingCall>("grpc/incoming");
/** Metadata to send on outgoing calls made with this ctx (tokens, registry path). */
export const OUTGOING_METADATA = ctxKey<grpc.Metadata>("grpc/outgoing-metadata");
/** Called with the response headers of an outgoing call. */
export const ON_RESPONSE_HEADERS = ctxKey<(md: grpc.Metadata) => void>("grpc/on-response-headers");

export interface Services {
  networkService?: NetworkServiceServer;
  monitor?: MonitorConnectionServer;
  nseRegistry?: NseRegistryServer;
  nsRegistry?: NsRegistryServer;
}

export interface ServeOptions {
  log?: Logger;
  /** credentials; default insecure (mTLS comes with the security work) */
  credentials?: grpc.ServerCredentials;
  /** default deadline for calls that come without one (ms); default 15 s as upstream's request timeout */
  defaultTimeoutMs?: number;
  /** pass fds beside the bytes on unix sockets (upstream grpcfd); default true */
  fdPassing?: boolean;
}

export interface GrpcServer {
  readonly server: grpc.Server;
  /** the URLs actually bound (tcp port 0 is replaced by the real port) */
  readonly urls: readonly NsmUrl[];
  /** stops accepting calls and cancels live ones; removes unix socket files */
  close(): Promise<void>;
}

function callCtx(
  call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
  o: ServeOptions,
  connId?: string,
): { ctx: Ctx; done: () => void } {
  const ac = new AbortController();
  const onCancel = () => ac.abort(new NsmError(status.CANCELLED, "call cancelled by the caller"));
  call.on("cancelled", onCancel);
  const d = call.getDeadline();
  const deadlineMs =
    d instanceof Date
      ? d.getTime()
      : typeof d === "number" && Number.isFinite(d)
        ? d
        : Date.now() + (o.defaultTimeoutMs ?? 15_000);
  const left = Math.max(0, deadlineMs - Date.now());
  const timer = setTimeout(() => ac.abort(new NsmError(status.DEADLINE_EXCEEDED, "deadline exceeded")), left);
  timer.unref();
  const log = o.log ?? silentLogger;
  const incoming = incomingCall(call);
  const ctx = new Ctx({ signal: ac.signal, deadline: deadlineMs, log: connId ? log.child({ connId }) : log }).withValue(
    INCOMING,
    incoming,
  );
  return {
    ctx,
    done: () => {
      clearTimeout(timer);
      call.removeListener("cancelled", onCancel);
      incoming.end();
    },
  };
}

/**
 * The ctx may outlive the call (begin keeps it for refresh/timeout events): once the call is over
 * it must not hold the call (its stream, buffers...). A function of its own so that no closure
 * kept in the ctx shares a scope with `call`.
 */
function incomingCall(call: {
  metadata: grpc.Metadata;
  getPeer(): string;
  sendMetadata(md: grpc.Metadata): void;
}): IncomingCall & { end(): void } {
  let live: typeof call | undefined = call;
  const fds = transceiverOfCall(call);
  return {
    metadata: call.metadata,
    peer: call.getPeer(),
    ...(fds ? { fds } : {}),
    sendHeaders(md) {
      const c = live;
      live = undefined;
      c?.sendMetadata(md);
    },
    end() {
      live = undefined;
    },
  };
}

function toServiceError(err: unknown, signal?: AbortSignal): Partial<grpc.StatusObject> {
  const e = NsmError.from(err, signal);
  return { code: e.code, details: e.message, metadata: new grpc.Metadata() };
}

function unary<Req, Res>(
  o: ServeOptions,
  fn: (req: Req, ctx: Ctx) => Promise<Res>,
  idOf?: (r: Req) => string | undefined,
): grpc.handleUnaryCall<Req, Res> {
  return (call, cb) => {
    const { ctx, done } = callCtx(call as grpc.ServerUnaryCall<unknown, unknown>, o, idOf?.(call.request));
    fn(call.request, ctx).then(
      (res) => {
        done();
        cb(null, res);
      },
      (err) => {
        done();
        const se = toServiceError(err, ctx.signal);
        ctx.log.debug({ code: se.code, err: se.details }, `${call.getPath()} failed`);
        cb(se as grpc.ServiceError);
      },
    );
  };
}

function serverStream<Req, Res>(
  o: ServeOptions,
  fn: (req: Req, ctx: Ctx) => AsyncIterable<Res>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const { ctx, done } = callCtx(call as grpc.ServerWritableStream<unknown, unknown>, o);
    void (async () => {
      const it = fn(call.request, ctx)[Symbol.asyncIterator]();
      const stop = () => {
        void it.return?.();
      };
      ctx.signal.addEventListener("abort", stop, { once: true });
      try {
        for (;;) {
          const r = await it.next();
          if (r.done || ctx.signal.aborted) break;
          if (!call.write(r.value))
            await new Promise<void>((res) => {
              call.once("drain", res);
              ctx.signal.addEventListener("abort", () => res(), { once: true });
            });
        }
        if (!ctx.signal.aborted) call.end();
      } catch (err) {
        if (!ctx.signal.aborted) call.destroy(Object.assign(new Error(), toServiceError(err, ctx.signal)) as Error);
      } finally {
        ctx.signal.removeEventListener("abort", stop);
        done();
      }
    })();
  };
}

function registryHandlers<T, Q, R>(o: ServeOptions, s: RegistryServer<T, Q, R>) {
  return {
    register: unary<T, T>(o, (e, c) => s.register(e, c)),
    find: serverStream<Q, R>(o, (q, c) => s.find(q, c)),
    unregister: unary<T, unknown>(o, async (e, c) => {
      await s.unregister(e, c);
      return create(EmptySchema);
    }),
  };
}

/** grpcfd on unix sockets unless NSM_GRPCFD=false (ours; e.g. to measure the plain transport). */
const fdPassingDefault = () => process.env["NSM_GRPCFD"] !== "false";

function prepareUnixSocket(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  try {
    if (statSync(path).isSocket()) rmSync(path);
  } catch {
    /* absent */
  }
}

/** Serves `services` on every URL (unix sockets: stale socket removed, parent dirs created). */
export async function serve(
  urls: readonly (string | NsmUrl)[],
  services: Services,
  o: ServeOptions = {},
): Promise<GrpcServer> {
  const server = new grpc.Server({ "grpc.max_receive_message_length": 16 << 20 });
  const ns = services.networkService;
  if (ns) {
    server.addService(NetworkServiceDef as unknown as grpc.ServiceDefinition, {
      request: unary<NetworkServiceRequest, Connection>(
        o,
        (r, c) => ns.request(r, c),
        (r) => r.connection?.id,
      ),
      close: unary<Connection, unknown>(
        o,
        async (x, c) => {
          await ns.close(x, c);
          return create(EmptySchema);
        },
        (x) => x.id,
      ),
    });
  }
  const mon = services.monitor;
  if (mon) {
    server.addService(MonitorConnectionDef as unknown as grpc.ServiceDefinition, {
      monitorConnections: serverStream<MonitorScopeSelector, ConnectionEvent>(o, (s, c) =>
        mon.monitorConnections(s, c),
      ),
    });
  }
  if (services.nseRegistry)
    server.addService(
      NetworkServiceEndpointRegistryDef as unknown as grpc.ServiceDefinition,
      registryHandlers(o, services.nseRegistry),
    );
  if (services.nsRegistry)
    server.addService(
      NetworkServiceRegistryDef as unknown as grpc.ServiceDefinition,
      registryHandlers(o, services.nsRegistry),
    );

  const bound: NsmUrl[] = [];
  const creds = o.credentials ?? grpc.ServerCredentials.createInsecure();
  const fdListeners: FdListener[] = [];
  const fdPassing = (o.fdPassing ?? fdPassingDefault()) && !o.credentials;
  try {
    for (const raw of urls) {
      const u = typeof raw === "string" ? parseUrl(raw) : raw;
      if (u.scheme === "unix") prepareUnixSocket(u.path);
      if (u.scheme === "unix" && fdPassing) {
        const l = await listenFd(u.path, server.createConnectionInjector(creds)).catch((err) => {
          throw new NsmError(status.UNAVAILABLE, `cannot listen on ${u.href}: ${messageOf(err)}`, { cause: err });
        });
        fdListeners.push(l);
        bound.push(u);
        continue;
      }
      const port = await new Promise<number>((res, rej) =>
        server.bindAsync(listenTarget(u), creds, (err, p) => (err ? rej(err) : res(p))),
      ).catch((err) => {
        throw new NsmError(status.UNAVAILABLE, `cannot listen on ${u.href}: ${messageOf(err)}`, { cause: err });
      });
      bound.push(u.scheme === "tcp" ? parseUrl(`tcp://${u.host.includes(":") ? `[${u.host}]` : u.host}:${port}`) : u);
    }
  } catch (e) {
    server.forceShutdown();
    await Promise.all(fdListeners.map((l) => l.close()));
    throw e;
  }
  return {
    server,
    urls: bound,
    async close() {
      server.forceShutdown();
      await Promise.all(fdListeners.map((l) => l.close()));
      for (const u of bound) if (u.scheme === "unix") rmSync(u.path, { force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// client side

export interface DialOptions {
  credentials?: grpc.ChannelCredentials;
  /** ms to wait for the channel to be ready on the first call (upstream NSM_DIAL_TIMEOUT) */
  dialTimeoutMs?: number;
  /** pass fds beside the bytes on unix sockets (upstream grpcfd); default true */
  fdPassing?: boolean;
  /** extra grpc-js channel options, e.g. `{ "grpc.use_local_subchannel_pool": 1 }` so a fresh channel does not inherit a failing shared subchannel's back-off */
  channelOptions?: grpc.ChannelOptions;
}

export interface GrpcConn {
  readonly url: NsmUrl;
  readonly networkService: NetworkServiceServer;
  readonly monitor: MonitorConnectionServer;
  readonly nseRegistry: NseRegistryServer;
  readonly nsRegistry: NsRegistryServer;
  /** resolves when the channel is READY or rejects with UNAVAILABLE after `timeoutMs` */
  waitReady(timeoutMs?: number): Promise<void>;
  readonly channel: grpc.Channel;
  /** fd passing on this channel (unix URLs), as upstream's grpcfd per-RPC transceiver */
  readonly fds?: FdTransceiver;
  close(): void;
}

type AnyClient = grpc.Client & Record<string, (...a: unknown[]) => unknown>;

function callOptions(ctx: Ctx): grpc.CallOptions {
  return Number.isFinite(ctx.deadline) ? { deadline: new Date(ctx.deadline) } : {};
}

function invokeUnary<Req, Res>(client: AnyClient, method: string, url: string, req: Req, ctx: Ctx): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    if (ctx.signal.aborted) return reject(NsmError.from(ctx.signal.reason, ctx.signal));
    const md = ctx.get(OUTGOING_METADATA) ?? new grpc.Metadata();
    const call = client[method]!(req, md, callOptions(ctx), (err: grpc.ServiceError | null, res: Res) => {
      ctx.signal.removeEventListener("abort", onAbort);
      if (err) reject(remoteError(err, url, method));
      else resolve(res);
    }) as grpc.ClientUnaryCall;
    const onHeaders = ctx.get(ON_RESPONSE_HEADERS);
    if (onHeaders) call.on("metadata", onHeaders);
    const onAbort = () => call.cancel();
    ctx.signal.addEventListener("abort", onAbort, { once: true });
  });
}

function remoteError(err: grpc.ServiceError, url: string, method: string): NsmError {
  if (err.code === status.UNAVAILABLE)
    return new NsmError(status.UNAVAILABLE, `${url} ${method}: ${err.details || "unavailable"}`, { cause: err });
  return new NsmError(err.code, err.details, { cause: err });
}

async function* invokeStream<Req, Res>(
  client: AnyClient,
  method: string,
  url: string,
  req: Req,
  ctx: Ctx,
): AsyncGenerator<Res> {
  ctx.throwIfAborted();
  const md = ctx.get(OUTGOING_METADATA) ?? new grpc.Metadata();
  const call = client[method]!(req, md, callOptions(ctx)) as grpc.ClientReadableStream<Res>;
  const onAbort = () => call.cancel();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const item of call) yield item as Res;
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (e.code === status.CANCELLED && ctx.signal.aborted) return;
    throw typeof e.code === "number" ? remoteError(e, url, method) : err;
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    call.cancel();
  }
}

const clientCtors = new Map<object, grpc.ServiceClientConstructor>();
function ctorFor(def: object, name: string): grpc.ServiceClientConstructor {
  let c = clientCtors.get(def);
  if (!c) {
    c = grpc.makeGenericClientConstructor(def as grpc.ServiceDefinition, name);
    clientCtors.set(def, c);
  }
  return c;
}

/**
 * Opens a channel to `url` (lazily connected, reconnects by itself). All four services share it.
 * A failed connect surfaces on the call as UNAVAILABLE naming the URL.
 */
export function dial(url: string | NsmUrl, o: DialOptions = {}): GrpcConn {
  const u = typeof url === "string" ? parseUrl(url) : url;
  const fdCreds =
    u.scheme === "unix" && !o.credentials && o.fdPassing !== false ? new FdChannelCredentials() : undefined;
  const creds = o.credentials ?? fdCreds ?? grpc.credentials.createInsecure();
  const opts: grpc.ChannelOptions = {
    "grpc.max_receive_message_length": 16 << 20,
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
    ...o.channelOptions,
  };
  if (u.scheme === "unix") opts["grpc.default_authority"] = "localhost";
  const channel = new grpc.Channel(dialTarget(u), creds, opts);
  const mk = (def: object, name: string) =>
    new (ctorFor(def, name))(dialTarget(u), creds, { channelOverride: channel }) as unknown as AnyClient;
  const nsc = mk(NetworkServiceDef, "NetworkService");
  const mon = mk(MonitorConnectionDef, "MonitorConnection");
  const nse = mk(NetworkServiceEndpointRegistryDef, "NetworkServiceEndpointRegistry");
  const nsr = mk(NetworkServiceRegistryDef, "NetworkServiceRegistry");
  const href = u.href;
  const registry = <T, Q, R>(c: AnyClient): RegistryServer<T, Q, R> => ({
    register: (e, ctx) => invokeUnary<T, T>(c, "register", href, e, ctx),
    find: (q, ctx) => invokeStream<Q, R>(c, "find", href, q, ctx),
    unregister: async (e, ctx) => {
      await invokeUnary<T, unknown>(c, "unregister", href, e, ctx);
    },
  });
  return {
    url: u,
    channel,
    ...(fdCreds ? { fds: fdCreds.fds } : {}),
    networkService: {
      request: (req, ctx) => invokeUnary<NetworkServiceRequest, Connection>(nsc, "request", href, req, ctx),
      close: async (conn, ctx) => {
        await invokeUnary<Connection, unknown>(nsc, "close", href, conn, ctx);
      },
    },
    monitor: {
      monitorConnections: (sel, ctx) =>
        invokeStream<MonitorScopeSelector, ConnectionEvent>(mon, "monitorConnections", href, sel, ctx),
    },
    nseRegistry: registry(nse),
    nsRegistry: registry(nsr),
    waitReady(timeoutMs = o.dialTimeoutMs ?? 750) {
      return new Promise<void>((resolve, reject) => {
        nsc.waitForReady(Date.now() + timeoutMs, (err) =>
          err
            ? reject(new NsmError(status.UNAVAILABLE, `dial ${href}: not ready after ${timeoutMs} ms`, { cause: err }))
            : resolve(),
        );
      });
    },
    close() {
      channel.close();
    },
  };
}
