/** Ways to name a network namespace, and what a Netns handle looks like to the encoders. */
import { DatapathError } from "./errors.js";

/**
 * A netns by path (`/run/netns/x`, `/proc/42/ns/net`), by name (`/run/netns/<name>`), by pid
 * (`/proc/<pid>/ns/net`) or by an fd this process holds. A bare string is a path.
 */
export type NetnsRef =
  string | { readonly path: string } | { readonly name: string } | { readonly pid: number } | { readonly fd: number };

/** Brand of {@link Netns} instances (avoids an import cycle with netns.ts). */
export const NETNS_BRAND: unique symbol = Symbol.for("nsm-ts.datapath.Netns");

/** The part of a Netns the batch encoder needs: its fd, for the duration of a native call. */
export interface NetnsHandle {
  readonly [NETNS_BRAND]: true;
  readonly fd: number;
  readonly name: string;
  /** Keeps the fd open until the matching release(); throws if the handle is closed. */
  acquire(): void;
  release(): void;
}

export function isNetnsHandle(x: unknown): x is NetnsHandle {
  return typeof x === "object" && x !== null && (x as Partial<NetnsHandle>)[NETNS_BRAND] === true;
}

/** A path that opens `ref` and a human name for messages ("/run/netns/x", "pid 42"). */
export function resolveRef(ref: NetnsRef): { path: string; name: string } {
  if (typeof ref === "string") {
    if (!ref) throw DatapathError.invalid('invalid netns path ""');
    return { path: ref, name: ref };
  }
  if (typeof ref !== "object" || ref === null) throw DatapathError.invalid(`invalid netns reference ${String(ref)}`);
  if ("path" in ref) return resolveRef(ref.path);
  if ("name" in ref) {
    if (!/^[^/\0]+$/.test(ref.name) || ref.name === "." || ref.name === "..") {
      throw DatapathError.invalid(`invalid netns name ${JSON.stringify(ref.name)}`);
    }
    return { path: `/run/netns/${ref.name}`, name: `/run/netns/${ref.name}` };
  }
  if ("pid" in ref) {
    if (!Number.isInteger(ref.pid) || ref.pid <= 0) throw DatapathError.invalid(`invalid netns pid ${String(ref.pid)}`);
    return { path: `/proc/${ref.pid}/ns/net`, name: `pid ${ref.pid}` };
  }
  if ("fd" in ref) {
    if (!Number.isInteger(ref.fd) || ref.fd < 0) throw DatapathError.invalid(`invalid netns fd ${String(ref.fd)}`);
    return { path: `/proc/self/fd/${ref.fd}`, name: `fd ${ref.fd}` };
  }
  throw DatapathError.invalid(`invalid netns reference ${JSON.stringify(ref)}`);
}

/** the netns name `target` designates, `self` when undefined (for messages and duplicate checks) */
export function peerKey(target: NetnsHandle | NetnsRef | undefined, self: string): string {
  if (target === undefined) return self;
  if (isNetnsHandle(target)) return target.name;
  try {
    return resolveRef(target).name;
  } catch {
    return JSON.stringify(target);
  }
}
