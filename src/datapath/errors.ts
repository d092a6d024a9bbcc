/** DatapathError: what a datapath operation could not do, in which netns, and why. */
import { NativeError } from "../native.js";

export interface DatapathErrorFields {
  /** errno name: "EEXIST", "ENOENT", "EINVAL" (also for input we refuse before the kernel). */
  readonly code: string;
  readonly errno: number;
  /** The failing call or message type ("RTM_NEWLINK", "open", "setns"); "validate" for bad input. */
  readonly syscall: string;
  /** The file or object the call named (netns path, link name), when there is one. */
  readonly path?: string | undefined;
  /** Name of the netns the operation ran in ("/run/netns/x", "pid 42"). */
  readonly netns?: string | undefined;
  /** Operation ("linkAdd") and its 0-based index in the batch. */
  readonly op?: string | undefined;
  readonly step?: number | undefined;
  /** The kernel's extended-ack text, when it gave one. */
  readonly detail?: string | undefined;
}

/**
 * Thrown by every datapath call. The message reads like
 * `op 1/3 linkAdd: EEXIST creating veth nsm-1a in /run/netns/x (RTM_NEWLINK)`; the fields carry
 * the same facts for code (`err.code === "EEXIST"`). The native error, if any, is in `cause`.
 */
export class DatapathError extends Error implements DatapathErrorFields {
  override readonly name = "DatapathError";
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string | undefined;
  readonly netns: string | undefined;
  readonly op: string | undefined;
  readonly step: number | undefined;
  readonly detail: string | undefined;

  constructor(message: string, f: DatapathErrorFields, options?: { cause?: unknown }) {
    super(message, options);
    this.code = f.code;
    this.errno = f.errno;
    this.syscall = f.syscall;
    this.path = f.path;
    this.netns = f.netns;
    this.op = f.op;
    this.step = f.step;
    this.detail = f.detail;
  }

  /** Bad input refused before anything reached the kernel (code EINVAL). */
  static invalid(message: string, extra: Partial<DatapathErrorFields> = {}): DatapathError {
    return new DatapathError(message, { code: "EINVAL", errno: 22, syscall: "validate", ...extra });
  }

  /** Wraps a NativeError (or anything) met while doing `what` in `netns`. */
  static wrap(e: unknown, what: string, netns: string): DatapathError {
    if (e instanceof DatapathError) return e;
    const n = NativeError.from(e);
    return new DatapathError(
      `${n.code} ${what} in ${netns}: ${n.message.replace(/^[A-Z0-9]+: /, "")}`,
      {
        code: n.code,
        errno: n.errno,
        syscall: n.syscall,
        path: n.path,
        netns,
        detail: n.detail,
      },
      { cause: n },
    );
  }
}
