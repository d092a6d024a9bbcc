/** The client half of the grpc-js adapters: `dial()` opens one channel to a URL (see grpc.ts). */
import * as grpc from "@grpc/grpc-js";
import {
  MonitorConnectionDef,
  NetworkServiceDef,
  NetworkServiceEndpointRegistryDef,
  NetworkServiceRegistryDef,
  type Connection,
  type ConnectionEvent,
  type MonitorScopeSelector,
  type NetworkServiceRequest,
} from "../api/index.js";
import { dialTarget, parseUrl, type NsmUrl } from "../tools/url.js";
import type { NetworkServiceServer } from "./chain.js";
import { Ctx } from "./context.js";
import { NsmError, codeName, status } from "../tools/errors.js";
import type { MonitorConnectionServer } from "./monitor.js";
import type { NseRegistryServer, NsRegistryServer, RegistryServer } from "./registry.js";
import { ON_RESPONSE_HEADERS, OUTGOING_METADATA } from "./grpc-common.js";
import { fdChannelCredentials } from "./grpc-fd.js";
import type { FdTransceiver } from "../tools/grpcfd/socket.js";
import { channelCredentialsFor, type SecurityOptions } from "./grpc-security.js";

export interface DialOptions {
  credentials?: grpc.ChannelCredentials;
  /** our SVID source (default: the process identity, grpc-security.ts); null = plaintext */
  identity?: SecurityOptions["identity"];
  /** ms to wait for the channel to be ready on the first call (upstream NSM_DIAL_TIMEOUT) */
  dialTimeoutMs?: number;
  /** pass fds beside the bytes on unix sockets (upstream grpcfd); default true unless NSM_GRPCFD=false */
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
  /** the server's SPIFFE ID once a TLS handshake verified it (undefined on plaintext) */
  peerId(): string | undefined;
  /** the serial of our SVID the server saw in the last handshake (tokens after a rotation prove the new one) */
  presentedSerial(): string | undefined;
  /** the server's certificate from the last TLS handshake */
  peerCertificate(): import("node:crypto").X509Certificate | undefined;
  readonly secure: boolean;
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
      if (err) reject(remoteError(err, url, method, ctx));
      else resolve(res);
    }) as grpc.ClientUnaryCall;
    const onHeaders = ctx.get(ON_RESPONSE_HEADERS);
    if (onHeaders) call.on("metadata", onHeaders);
    const onAbort = () => call.cancel();
    ctx.signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * What a failed call throws. Outcomes of the call itself (unreachable, out of time, cancelled by our
 * ctx) name the URL and method, so a reader knows which peer it was; an error the server sent keeps
 * the server's message.
 */
function remoteError(err: grpc.ServiceError, url: string, method: string, ctx: Ctx): NsmError {
  if (err.code === status.CANCELLED && ctx.signal.aborted) {
    const e = NsmError.from(ctx.signal.reason, ctx.signal);
    return new NsmError(e.code, `${url} ${method}: ${e.message}`, { cause: err });
  }
  if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED)
    return new NsmError(err.code, `${url} ${method}: ${err.details || codeName(err.code)}`, { cause: err });
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
    throw typeof e.code === "number" ? remoteError(e, url, method, ctx) : err;
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
  const sec = channelCredentialsFor(o);
  // on unix sockets fds travel beside the bytes, plaintext or TLS (an SVID) over the FdSocket
  const fdCreds = fdChannelCredentials(u, o, sec.secure ? sec.credentials : undefined);
  const creds = fdCreds ?? sec.credentials;
  const opts: grpc.ChannelOptions = {
    "grpc.max_receive_message_length": 16 << 20,
    "grpc.initial_reconnect_backoff_ms": 100,
    // a unix socket is a local process: connecting costs nothing, and a restarted peer (nsmgr,
    // forwarder) should be reached within a poll, not after a back-off grown while it was down;
    // another node's nsmgr over tcp: a SYN every 0.5 s to a dead peer costs nothing either
    "grpc.max_reconnect_backoff_ms": u.scheme === "unix" ? 200 : 500,
    ...sec.options,
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
    peerId: sec.peerId,
    presentedSerial: sec.presentedSerial,
    peerCertificate: sec.peerCertificate,
    secure: sec.secure,
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
