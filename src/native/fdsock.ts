/**
 * The addon's grpcfd half (native/src/fdsock.cc), beside src/native.ts: unix stream sockets
 * with SCM_RIGHTS. One I/O thread per process reads with recvmsg and reports through the
 * callback given to `init` (once). `adopt` takes ownership of a connected socket fd until
 * `close`; `want` arms one read and/or one writable report; `send` writes without blocking
 * (-1: EAGAIN) with up to 64 fds on the first byte, fds staying the caller's. The I/O thread
 * has one callback per process: users share it through `fdsockAttach`/`fdsockRelease`, which
 * route each socket's reports to its own handler.
 */
import { addonCall, fdClose } from "../native.js";

/**
 * What the fdsock I/O thread reports for socket `id`: bytes read (null when none), fds received
 * with them (owned by the callee from now on), end of stream, "writable again", or an errno.
 */
export type FdsockEvent = (
  id: number,
  data: Buffer | null,
  fds: number[],
  eof: boolean,
  writable: boolean,
  errno: number,
) => void;

interface FdsockAddon {
  fdOpenPath(path: string): number;
  fdsockInit(onEvent: FdsockEvent): void;
  fdsockAdopt(fd: number): number;
  fdsockWant(id: number, read: boolean, write: boolean): void;
  fdsockSend(id: number, bytes: Uint8Array, fds: readonly number[]): number;
  fdsockShutdown(id: number): void;
  fdsockClose(id: number): void;
}

const call = <T>(f: (a: FdsockAddon) => T): T => addonCall((raw) => f(raw as unknown as FdsockAddon));

/** Opens `path` O_PATH|O_CLOEXEC (any file, also a socket or a netns); the caller owns the fd. */
export function fdOpenPath(path: string): number {
  return call((a) => a.fdOpenPath(path));
}

export const fdsock = {
  init: (onEvent: FdsockEvent): void => call((a) => a.fdsockInit(onEvent)),
  adopt: (fd: number): number => call((a) => a.fdsockAdopt(fd)),
  want: (id: number, read: boolean, write: boolean): void => call((a) => a.fdsockWant(id, read, write)),
  send: (id: number, bytes: Uint8Array, fds: readonly number[]): number => call((a) => a.fdsockSend(id, bytes, fds)),
  shutdown: (id: number): void => call((a) => a.fdsockShutdown(id)),
  close: (id: number): void => call((a) => a.fdsockClose(id)),
};

/** A socket's reports (see {@link FdsockEvent}, without the id). */
export type FdsockHandler = (data: Buffer | null, fds: number[], eof: boolean, writable: boolean, errno: number) => void;

const handlers = new Map<number, FdsockHandler>();
let started = false;

function dispatch(id: number, data: Buffer | null, fds: number[], eof: boolean, writable: boolean, errno: number) {
  const h = handlers.get(id);
  if (!h) {
    // released meanwhile: nobody takes the fds
    for (const fd of fds) fdClose(fd);
    return;
  }
  h(data, fds, eof, writable, errno);
}

/**
 * Adopts `fd` (any socket; owned by the I/O thread from now until {@link fdsockRelease}) and
 * routes its reports to `handler`; returns the socket's id for `fdsock.want/send/shutdown`.
 */
export function fdsockAttach(fd: number, handler: FdsockHandler): number {
  if (!started) {
    fdsock.init(dispatch);
    started = true;
  }
  const id = fdsock.adopt(fd);
  handlers.set(id, handler);
  return id;
}

/** Stops routing reports of socket `id` and has the I/O thread close it. */
export function fdsockRelease(id: number): void {
  handlers.delete(id);
  fdsock.close(id);
}
