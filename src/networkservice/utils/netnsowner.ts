/**
 * Who owns a connection, by the network namespace its KERNEL mechanism names: two clients that
 * reuse one connection id (the same NSM_NAME) from different namespaces are different owners.
 * `netnsClaim` is begin's `claim` for nsmgr: a Request for an established id from another
 * namespace is refused; one whose stored namespace no longer exists starts afresh.
 *
 *   netnsIdentity("file:///proc/1234/ns/net")   // "4:4026532801" (dev:inode), undefined if gone
 */
import { statSync } from "node:fs";
import { kernel, type Connection, type NetworkServiceRequest } from "../../api/index.js";
import type { Claim } from "../../core/index.js";
import { findLiveNetns } from "../../tools/grpcfd/inode.js";

/** dev:inode of the namespace a `file://` or `inode://dev/ino` URL names; undefined when it cannot be resolved. */
export function netnsIdentity(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const ino = /^inode:\/\/(\d+)\/(\d+)$/.exec(url);
  if (ino) return `${ino[1]}:${ino[2]}`;
  if (!url.startsWith("file://")) return undefined;
  try {
    const st = statSync(decodeURIComponent(url.slice("file://".length)));
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * dev:inode of the namespace `url` names while it still exists on its own. An `inode://` URL
 * (a client that passed its netns as an fd, grpcfd) always names an identity, and the fd nsmgr
 * received keeps that namespace from being freed: it is alive while a name in /run/netns or a
 * process in it remains.
 */
export function liveNetnsIdentity(url: string): string | undefined {
  const id = netnsIdentity(url);
  if (!id || !url.startsWith("inode://")) return id;
  try {
    findLiveNetns(url);
    return id;
  } catch {
    return undefined;
  }
}

/** The netns URL a Request speaks for: its own KERNEL preference first (a refresh may carry an older mechanism). */
export function requestNetnsUrl(req: NetworkServiceRequest): string | undefined {
  for (const m of req.mechanismPreferences)
    if (m.type === kernel.MECHANISM && kernel.netnsUrlOf(m)) return kernel.netnsUrlOf(m);
  const cur = req.connection?.mechanism;
  return cur?.type === kernel.MECHANISM ? kernel.netnsUrlOf(cur) : undefined;
}

export function netnsClaim(req: NetworkServiceRequest, stored: Connection): Claim {
  const asked = requestNetnsUrl(req);
  const had = stored.mechanism?.type === kernel.MECHANISM ? kernel.netnsUrlOf(stored.mechanism) : undefined;
  if (!asked || !had || asked === had) return { owner: "same" };
  const mine = netnsIdentity(asked);
  if (!mine) return { owner: "same" }; // cannot tell: let the forwarder judge the namespace
  const theirs = liveNetnsIdentity(had);
  if (!theirs) return { owner: "gone", detail: `its namespace ${had} no longer exists` };
  if (mine === theirs) return { owner: "same" };
  return { owner: "other", detail: `its namespace is ${had}, the request's ${asked}` };
}
