/**
 * Address and route change notifications of one netns (rtnetlink multicast groups, read by the
 * addon's fdsock I/O thread): acting on change instead of polling with dumps.
 *
 * ```ts
 * const w = watchAddrsRoutes(ns, (e) => {
 *   if (e.kind === "overrun") resyncEverything();      // notifications were lost
 *   else if (e.op === "new") checkLink(e.index);        // an address or route appeared on link e.index
 * });
 * w.close();
 * ```
 * Root only (the socket is made inside the namespace).
 */
import { nlWatchOpen, fdClose } from "../native.js";
import { fdsock, fdsockAttach, fdsockRelease } from "../native/fdsock.js";
import * as nl from "./netlink.js";
import type { NetnsHandle } from "./ref.js";

/** rtnetlink multicast groups (linux/rtnetlink.h) */
export const RTNLGRP_IPV4_IFADDR = 5,
  RTNLGRP_IPV4_ROUTE = 7,
  RTNLGRP_IPV6_IFADDR = 9,
  RTNLGRP_IPV6_ROUTE = 11;

const ENOBUFS = 105;

export type AddrRouteChange =
  /** an address or a route (with its output interface `index`, when it has one) came or went */
  | { readonly kind: "addr" | "route"; readonly op: "new" | "del"; readonly family: 4 | 6; readonly index?: number }
  /** the kernel dropped notifications (socket buffer full) or the socket failed: state is unknown */
  | { readonly kind: "overrun"; readonly errno: number };

/** Decodes the notifications in one read (whole netlink messages back to back). */
export function decodeAddrRouteChanges(buf: Uint8Array): AddrRouteChange[] {
  const out: AddrRouteChange[] = [];
  for (const f of nl.parseFrames(buf)) {
    const addr = f.type === nl.RTM_NEWADDR || f.type === nl.RTM_DELADDR;
    const route = f.type === nl.RTM_NEWROUTE || f.type === nl.RTM_DELROUTE;
    if (!addr && !route) continue;
    if (f.data.length < (addr ? 8 : 12)) continue;
    const family = f.data.readUInt8(0) === nl.AF_INET6 ? 6 : 4;
    const op = f.type === nl.RTM_NEWADDR || f.type === nl.RTM_NEWROUTE ? "new" : "del";
    const index = addr ? f.data.readUInt32LE(4) : nl.attrU32(nl.findAttr(f.data, 12, nl.RTA_OIF));
    out.push({ kind: addr ? "addr" : "route", op, family, ...(index !== undefined ? { index } : {}) });
  }
  return out;
}

export interface NetlinkWatch {
  /** Stops the notifications (idempotent). */
  close(): void;
}

/**
 * Calls `onChange` for every IPv4/IPv6 address and route change in `ns`, on the JS thread, until
 * `close()`. The socket is bound to `ns` when this returns: changes made after it are reported.
 * Throws (NativeError) when the socket cannot be made. Keeps the process alive until closed.
 */
export function watchAddrsRoutes(ns: NetnsHandle, onChange: (e: AddrRouteChange) => void): NetlinkWatch {
  const fd = nlWatchOpen(ns.fd, [RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE]);
  let closed = false;
  let id: number;
  try {
    id = fdsockAttach(fd, (data, fds, eof, _writable, errno) => {
      for (const f of fds) fdClose(f); // none expected on netlink
      if (closed) return;
      if (data) for (const e of decodeAddrRouteChanges(data)) onChange(e);
      // ENOBUFS: the kernel dropped notifications, the socket goes on; another errno or an end
      // (not expected of netlink) is reported the same way, and reading goes on
      if (errno || eof) onChange({ kind: "overrun", errno: errno || ENOBUFS });
      if (!closed && !eof) fdsock.want(id, true, false);
    });
  } catch (e) {
    fdClose(fd);
    throw e;
  }
  fdsock.want(id, true, false);
  return {
    close() {
      if (closed) return;
      closed = true;
      fdsockRelease(id);
    },
  };
}
