/**
 * Where to reach ovsdb-server or a bridge's OpenFlow listener. Accepts OVS's own spelling
 * (`unix:/run/db.sock`, `tcp:127.0.0.1:6640`), NSM URLs (`unix:///run/db.sock`,
 * `tcp://127.0.0.1:6640`) and a bare absolute path (a unix socket).
 */
import { connect, type Socket } from "node:net";
import { NsmError, status } from "../tools/errors.js";

export type OvsTarget = { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number };

export function parseOvsTarget(value: string): OvsTarget {
  const v = value.trim();
  if (v.startsWith("/")) return { kind: "unix", path: v };
  let m = /^unix:(?:\/\/)?(\/.+)$/.exec(v);
  if (m) return { kind: "unix", path: m[1]! };
  m = /^tcp:(?:\/\/)?(\[[^\]]+\]|[^:/[\]]+):(\d{1,5})\/?$/.exec(v);
  if (m && Number(m[2]) <= 65535) {
    const host = m[1]!.startsWith("[") ? m[1]!.slice(1, -1) : m[1]!;
    return { kind: "tcp", host, port: Number(m[2]) };
  }
  throw new NsmError(
    status.INVALID_ARGUMENT,
    `invalid OVS target "${value}": expected unix:/path, unix:///path, tcp:host:port or tcp://host:port`,
  );
}

export function formatOvsTarget(t: OvsTarget): string {
  return t.kind === "unix" ? `unix:${t.path}` : `tcp:${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}`;
}

/** Opens a stream socket; rejects with UNAVAILABLE naming the target, or on abort/timeout. */
export function openSocket(t: OvsTarget, o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = t.kind === "unix" ? connect({ path: t.path }) : connect({ host: t.host, port: t.port });
    sock.setNoDelay?.(true);
    const fail = (err: unknown): void => {
      cleanup();
      sock.destroy();
      const reason = err instanceof Error ? err.message : String(err);
      reject(
        new NsmError(
          o.signal?.aborted ? status.CANCELLED : status.UNAVAILABLE,
          `connect ${formatOvsTarget(t)}: ${reason}`,
          { cause: err },
        ),
      );
    };
    const onAbort = (): void => fail(o.signal?.reason ?? new Error("aborted"));
    const timer = o.timeoutMs
      ? setTimeout(() => fail(new Error(`timed out after ${o.timeoutMs} ms`)), o.timeoutMs)
      : undefined;
    const cleanup = (): void => {
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      sock.off("error", fail);
      sock.off("connect", ok);
    };
    const ok = (): void => {
      cleanup();
      resolve(sock);
    };
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener("abort", onAbort, { once: true });
    sock.once("error", fail);
    sock.once("connect", ok);
  });
}
