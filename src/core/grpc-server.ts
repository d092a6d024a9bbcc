/** The server half of the grpc-js adapters: `serve()` exposes chains as a gRPC server (see grpc.ts). */
import * as grpc from "@grpc/grpc-js";
import { mkdirSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
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
import { listenTarget, parseUrl, type NsmUrl } from "../tools/url.js";
import type { NetworkServiceServer } from "./chain.js";
import { Ctx } from "./context.js";
import { NsmError, messageOf, status } from "../tools/errors.js";
import type { MonitorConnectionServer } from "./monitor.js";
import type { NseRegistryServer, NsRegistryServer, RegistryServer } from "./registry.js";
import { INCOMING, type IncomingCall } from "./grpc-common.js";
import { FdListeners, fdPassingDefault, fdsOfCall } from "./grpc-fd.js";
import { serverCredentialsFor, type SecurityOptions } from "./grpc-security.js";

export interface Services {
  networkService?: NetworkServiceServer;
  monitor?: MonitorConnectionServer;
  nseRegistry?: NseRegistryServer;
  nsRegistry?: NsRegistryServer;
}

export interface ServeOptions {
  log?: Logger;
  /** credentials; default from `identity` or the process identity (grpc-security.ts), else insecure */
  credentials?: grpc.ServerCredentials;
  identity?: SecurityOptions["identity"];
  /** default deadline for unary calls that come without one (ms); default 15 s as upstream's request timeout; streams get none */
  defaultTimeoutMs?: number;
  /** pass fds beside the bytes on unix sockets (upstream grpcfd); default true unless NSM_GRPCFD=false */
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
  /** when the caller set no deadline; a stream (watch, monitor) has none: it lives until cancelled */
  defaultMs = o.defaultTimeoutMs ?? 15_000,
): { ctx: Ctx; done: () => void } {
  const ac = new AbortController();
  const onCancel = () => ac.abort(new NsmError(status.CANCELLED, "call cancelled by the caller"));
  call.on("cancelled", onCancel);
  const d = call.getDeadline();
  const deadlineMs =
    d instanceof Date ? d.getTime() : typeof d === "number" && Number.isFinite(d) ? d : Date.now() + defaultMs;
  const left = Math.max(0, deadlineMs - Date.now());
  const timer = Number.isFinite(left)
    ? setTimeout(() => ac.abort(new NsmError(status.DEADLINE_EXCEEDED, "deadline exceeded")), left)
    : undefined;
  timer?.unref();
  const log = o.log ?? silentLogger;
  const incoming = incomingCall(call);
  const ctx = new Ctx({ signal: ac.signal, deadline: deadlineMs, log: connId ? log.child({ connId }) : log }).withValue(
    INCOMING,
    incoming,
  );
  return {
    ctx,
    done: () => {
      if (timer) clearTimeout(timer);
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
  getAuthContext(): { sslPeerCertificate?: import("node:tls").PeerCertificate };
  sendMetadata(md: grpc.Metadata): void;
}): IncomingCall & { end(): void } {
  let live: typeof call | undefined = call;
  const fds = fdsOfCall(call);
  return {
    metadata: call.metadata,
    peer: call.getPeer(),
    ...(fds ? { fds } : {}),
    peerCertificate: call.getAuthContext().sslPeerCertificate,
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

/**
 * A server stream ends with a status the caller sees, always: OK when the server's iterator ends,
 * the error otherwise, also when our side gave up (server shutdown). A stream that stopped
 * writing without a status looked alive to the caller forever (a watch cache or a heal monitor
 * that never learns it is blind). Streams get no default deadline: a caller that set none wants
 * it until it cancels.
 */
function serverStream<Req, Res>(
  o: ServeOptions,
  fn: (req: Req, ctx: Ctx) => AsyncIterable<Res>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const { ctx, done } = callCtx(call as grpc.ServerWritableStream<unknown, unknown>, o, undefined, Infinity);
    let cancelled = false;
    call.once("cancelled", () => (cancelled = true));
    // grpc-js sends a status from end() (emit "error" sets it first); destroy() would send none
    const fail = (err: unknown) => {
      if (cancelled || call.writableEnded) return;
      const se = toServiceError(err, ctx.signal);
      call.emit("error", Object.assign(new Error(se.details), se));
    };
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
        else fail(ctx.signal.reason);
      } catch (err) {
        fail(err);
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

/** true when a server accepts connections on the unix socket at `path` (a connect probe). */
export function unixSocketLive(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (live: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve(live);
    };
    // a listener whose backlog is full does not answer at once: it is alive all the same
    const t = setTimeout(() => done(true), timeoutMs);
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

/**
 * Unix sockets this process bound, with the inode it got: removed by their server's close() or
 * by `removeOwnedSockets()` on a forced exit, and only while the path is still that inode (a
 * later server may have replaced a file we thought stale).
 */
const ownedSockets = new Map<string, number>();

function removeOwned(path: string): void {
  const ino = ownedSockets.get(path);
  ownedSockets.delete(path);
  try {
    if (ino !== undefined && statSync(path).ino === ino) rmSync(path, { force: true });
  } catch {
    /* already gone */
  }
}

/** Removes every unix socket file this process still owns (synchronous: usable in an exit handler). */
export function removeOwnedSockets(): void {
  for (const p of [...ownedSockets.keys()]) removeOwned(p);
}

/** Refuses a socket a live server answers on; removes a stale one (nobody listens); creates parent dirs. */
async function prepareUnixSocket(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  let isSocket = false;
  try {
    isSocket = statSync(path).isSocket();
  } catch {
    return; // absent
  }
  if (!isSocket) return; // bind fails with EADDRINUSE and says so
  if (await unixSocketLive(path))
    throw new NsmError(
      status.ALREADY_EXISTS,
      `${path} is in use: another server answers on it (stop it first, or listen elsewhere)`,
    );
  rmSync(path, { force: true });
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
  const { credentials: creds } = serverCredentialsFor(o);
  // fds travel beside the bytes on unix sockets, with TLS from an SVID too (not with given credentials)
  const fdListeners = new FdListeners((o.fdPassing ?? fdPassingDefault()) && !o.credentials, server, creds);
  try {
    for (const raw of urls) {
      const u = typeof raw === "string" ? parseUrl(raw) : raw;
      if (u.scheme === "unix") {
        try {
          await prepareUnixSocket(u.path);
        } catch (err) {
          throw new NsmError(status.ALREADY_EXISTS, `cannot listen on ${u.href}: ${messageOf(err)}`, { cause: err });
        }
      }
      const fdIno = await fdListeners.listen(u).catch((err) => {
        throw new NsmError(status.UNAVAILABLE, `cannot listen on ${u.href}: ${messageOf(err)}`, { cause: err });
      });
      if (fdIno !== undefined && u.scheme === "unix") {
        ownedSockets.set(u.path, fdIno);
        bound.push(u);
        continue;
      }
      const port = await new Promise<number>((res, rej) =>
        server.bindAsync(listenTarget(u), creds, (err, p) => (err ? rej(err) : res(p))),
      ).catch((err) => {
        throw new NsmError(status.UNAVAILABLE, `cannot listen on ${u.href}: ${messageOf(err)}`, { cause: err });
      });
      if (u.scheme === "unix") ownedSockets.set(u.path, statSync(u.path).ino);
      bound.push(u.scheme === "tcp" ? parseUrl(`tcp://${u.host.includes(":") ? `[${u.host}]` : u.host}:${port}`) : u);
    }
  } catch (e) {
    server.forceShutdown();
    await fdListeners.close();
    for (const u of bound) if (u.scheme === "unix") removeOwned(u.path);
    throw e;
  }
  return {
    server,
    urls: bound,
    async close() {
      server.forceShutdown();
      await fdListeners.close();
      for (const u of bound) if (u.scheme === "unix") removeOwned(u.path);
    },
  };
}
