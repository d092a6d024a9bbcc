/**
 * One error type for the whole control plane: a gRPC status code plus a message that names the
 * offending value and what was tried. The grpc adapters send `{ code, details: message }`.
 */
import { status } from "@grpc/grpc-js";

export { status };

export class NsmError extends Error {
  readonly code: status;
  constructor(code: status, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NsmError";
    this.code = code;
  }

  /** Wraps anything thrown into an NsmError: abort → CANCELLED/DEADLINE_EXCEEDED, grpc errors keep their code. */
  static from(err: unknown, signal?: AbortSignal): NsmError {
    if (err instanceof NsmError) return err;
    if (signal?.aborted) {
      const r = signal.reason as { name?: string } | undefined;
      const code = r?.name === "TimeoutError" ? status.DEADLINE_EXCEEDED : status.CANCELLED;
      return new NsmError(
        code,
        `${code === status.DEADLINE_EXCEEDED ? "deadline exceeded" : "cancelled"}: ${messageOf(err)}`,
        { cause: err },
      );
    }
    const e = err as { code?: unknown; details?: unknown; name?: string } | undefined;
    // a grpc-js ServiceError: numeric code + details
    if (e && typeof e.code === "number" && typeof e.details === "string" && e.code in status) {
      return new NsmError(e.code as status, e.details, { cause: err });
    }
    if (e?.name === "AbortError") return new NsmError(status.CANCELLED, messageOf(err), { cause: err });
    if (e?.name === "TimeoutError") return new NsmError(status.DEADLINE_EXCEEDED, messageOf(err), { cause: err });
    return new NsmError(status.UNKNOWN, messageOf(err), { cause: err });
  }
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Name of a grpc status code ("NOT_FOUND") for messages and logs. */
export function codeName(code: status): string {
  return status[code] ?? String(code);
}
