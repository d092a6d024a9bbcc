/**
 * The grpcfd transport hooks of the grpc-js adapters (kept apart from grpc-server.ts and
 * grpc-client.ts, which only call these): on unix sockets a server accepts, and a client dials,
 * FdSockets that carry fds beside the HTTP/2 bytes (see src/tools/grpcfd/ and docs/grpcfd.md).
 * Off with NSM_GRPCFD=false (process-wide) or `fdPassing: false`, or with explicit credentials;
 * with an SVID (mTLS) the TLS session runs over the FdSocket, as upstream's grpcfd wraps TLS.
 */
import * as grpc from "@grpc/grpc-js";
import { statSync } from "node:fs";
import { FdChannelCredentials, listenFd, transceiverOfCall, type FdListener } from "../tools/grpcfd/grpc.js";
import type { FdTransceiver } from "../tools/grpcfd/socket.js";
import type { NsmUrl } from "../tools/url.js";

/** grpcfd on unix sockets unless NSM_GRPCFD=false (ours; e.g. to measure the plain transport). */
export function fdPassingDefault(): boolean {
  return process.env["NSM_GRPCFD"] !== "false";
}

/** The fd transceiver of the connection a server call came in on, if it is an fd socket. */
export function fdsOfCall(call: object): FdTransceiver | undefined {
  return transceiverOfCall(call);
}

/** A server's fd-passing listeners (one per unix URL it serves with fds). */
export class FdListeners {
  private readonly listeners: FdListener[] = [];
  constructor(
    private readonly enabled: boolean,
    private readonly server: grpc.Server,
    private readonly creds: grpc.ServerCredentials,
  ) {}

  /**
   * Listens on `u` with fd passing when it applies (unix URL, enabled); returns the socket's
   * inode for the caller's ownership record, or undefined when the caller must bind it itself.
   */
  async listen(u: NsmUrl): Promise<number | undefined> {
    if (u.scheme !== "unix" || !this.enabled) return undefined;
    this.listeners.push(await listenFd(u.path, this.server.createConnectionInjector(this.creds)));
    return statSync(u.path).ino;
  }

  async close(): Promise<void> {
    await Promise.all(this.listeners.splice(0).map((l) => l.close()));
  }
}

/** Channel credentials that pass fds, for a dial to `u` when it applies; else undefined. */
export function fdChannelCredentials(
  u: NsmUrl,
  o: { credentials?: grpc.ChannelCredentials; fdPassing?: boolean },
  tls?: grpc.ChannelCredentials,
): FdChannelCredentials | undefined {
  if (u.scheme !== "unix" || o.credentials || !(o.fdPassing ?? fdPassingDefault())) return undefined;
  return new FdChannelCredentials(tls);
}
