/**
 * grpc-js over FdSocket on unix sockets, both sides (upstream: grpcfd.TransportCredentials).
 *
 * Server: `listenFd(path, injector)` accepts with a paused net.Server, takes the accepted fd over
 * (dup, then the net.Socket is dropped before it read a byte) and injects an FdSocket into the
 * grpc-js server (`Server.createConnectionInjector`). `transceiverOfCall(call)` finds the
 * connection a call came in on.
 *
 * Client: `FdChannelCredentials` is an insecure ChannelCredentials whose connector takes over the
 * socket grpc-js connected the same way; `ChannelFds` is the channel's FdTransceiver: it sends
 * and receives on the channel's current connection and queues a send until there is one.
 * `FdChannelCredentials.over(tls)` does the same under TLS (as upstream wraps its TLS credentials in
 * grpcfd): the TLS session runs over the FdSocket, whose fds travel beside the encrypted bytes.
 * A server given TLS credentials wraps each injected FdSocket in TLS the same way.
 */
import * as grpc from "@grpc/grpc-js";
import net from "node:net";
import { fdClose, fdDup, fdInode } from "../../native.js";
import { fdOpenPath } from "../../native/fdsock.js";
import { FdSocket, FdWaitError, inodeUrl, type FdTransceiver } from "./socket.js";

function takeOver(sock: net.Socket): FdSocket {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) {
    sock.destroy();
    throw new Error("grpcfd: the connected socket has no fd to take over");
  }
  const mine = fdDup(fd);
  sock.destroy(); // closes its fd only; the connection lives on in ours
  try {
    return new FdSocket(mine);
  } catch (e) {
    fdClose(mine);
    throw e;
  }
}

export interface FdListener {
  readonly server: net.Server;
  /** live connections (tests) */
  readonly connections: ReadonlySet<FdSocket>;
  close(): Promise<void>;
}

/** Listens on the unix socket `path` and hands each connection, as an FdSocket, to `injector`. */
export async function listenFd(
  path: string,
  injector: ReturnType<grpc.Server["createConnectionInjector"]>,
): Promise<FdListener> {
  const connections = new Set<FdSocket>();
  const server = net.createServer({ pauseOnConnect: true }, (sock) => {
    let s: FdSocket;
    try {
      s = takeOver(sock);
    } catch {
      return;
    }
    connections.add(s);
    s.once("close", () => connections.delete(s));
    s.on("error", () => undefined); // http2 reports it on the session
    injector.injectConnection(s);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.removeListener("error", reject);
      resolve();
    });
  });
  return {
    server,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of connections) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * The FdSocket a server call arrived on, if any. grpc-js exposes no transport per call: the
 * path (call → intercepting call → http2 stream → session → socket proxy → our Duplex, which
 * http2 wraps) is checked by test/unit/grpcfd.test.ts so an upgrade that breaks it fails there.
 */
export function transceiverOfCall(call: object): FdTransceiver | undefined {
  let c = (call as { call?: unknown }).call as Record<string, unknown> | undefined;
  for (let i = 0; c && i < 8 && !c["stream"]; i++) c = c["nextCall"] as Record<string, unknown> | undefined;
  const stream = c?.["stream"] as { session?: { socket?: Record<string, unknown> } } | undefined;
  const sock = stream?.session?.socket;
  // plaintext: http2 wraps our Duplex (`stream`); TLS: the TLSSocket's handle wraps it the same way
  const tlsWrap = (sock?.["_handle"] as { _parentWrap?: { stream?: unknown } } | undefined)?._parentWrap;
  for (const s of [sock?.["stream"], tlsWrap?.stream]) if (s instanceof FdSocket) return s;
  return undefined;
}

/** A channel's FdTransceiver: its current connection, or a queue until it has one. */
export class ChannelFds implements FdTransceiver {
  private current?: FdSocket;
  private readonly queued: string[] = [];
  private readonly waiting = new Set<() => void>();

  /** @internal the connector's new connection */
  attach(s: FdSocket): void {
    this.current = s;
    s.once("close", () => {
      if (this.current === s) this.current = undefined;
    });
    for (const p of this.queued.splice(0)) {
      try {
        s.sendFile(p);
      } catch {
        /* gone meanwhile: the peer will time out waiting, as upstream */
      }
    }
    for (const w of [...this.waiting]) w();
  }

  get connection(): FdSocket | undefined {
    return this.current;
  }

  sendFile(path: string): string {
    if (this.current && !this.current.destroyed) return this.current.sendFile(path);
    // not connected yet: learn the URL now (and fail now if the file is missing), send on connect
    const url = inodeUrlOfPath(path);
    this.queued.push(path);
    return url;
  }

  async recvFd(url: string, signal: AbortSignal): Promise<number> {
    for (;;) {
      const c = this.current;
      if (c && !c.destroyed) return c.recvFd(url, signal);
      if (signal.aborted) throw new FdWaitError(`timeout in recvfd waiting for ${url} (no connection)`);
      await new Promise<void>((resolve) => {
        const done = () => {
          this.waiting.delete(done);
          signal.removeEventListener("abort", done);
          resolve();
        };
        this.waiting.add(done);
        signal.addEventListener("abort", done, { once: true });
      });
    }
  }
}

/** `inode://<dev>/<ino>` of the file at `path` (upstream grpcfd.FilenameToURL); throws when it is missing. */
export function inodeUrlOfPath(path: string): string {
  const fd = fdOpenPath(path);
  try {
    return inodeUrl(fdInode(fd));
  } finally {
    fdClose(fd);
  }
}

type ConnectorArgs = Parameters<grpc.ChannelCredentials["_createSecureConnector"]>;

/**
 * Channel credentials whose connections are FdSockets (unix targets only): plaintext, or TLS by
 * `tls` (secure channel credentials) over the FdSocket.
 */
export class FdChannelCredentials extends grpc.ChannelCredentials {
  readonly fds = new ChannelFds();

  constructor(private readonly tls?: grpc.ChannelCredentials) {
    super();
  }

  override compose(): grpc.ChannelCredentials {
    throw new Error("grpcfd: cannot compose these credentials");
  }
  _isSecure(): boolean {
    return this.tls?._isSecure() ?? false;
  }
  _equals(other: grpc.ChannelCredentials): boolean {
    return other === this;
  }
  _createSecureConnector(target: ConnectorArgs[0], opts: ConnectorArgs[1], callCreds?: ConnectorArgs[2]) {
    const fds = this.fds;
    if (this.tls) {
      const inner = this.tls._createSecureConnector(target, opts, callCreds);
      return {
        connect(sock: net.Socket) {
          const s = takeOver(sock);
          s.on("error", () => undefined); // the TLS socket over it reports it
          fds.attach(s);
          return inner.connect(s as unknown as net.Socket);
        },
        waitForReady: () => inner.waitForReady(),
        getCallCredentials: () => inner.getCallCredentials(),
        destroy: () => inner.destroy(),
      };
    }
    return {
      connect(sock: net.Socket) {
        const s = takeOver(sock);
        s.on("error", () => undefined); // http2 reports it on the session
        fds.attach(s);
        return Promise.resolve({ socket: s as unknown as net.Socket, secure: false });
      },
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => callCreds ?? grpc.CallCredentials.createEmpty(),
      destroy: () => undefined,
    };
  }
}
