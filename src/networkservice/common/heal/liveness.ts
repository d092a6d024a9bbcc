/**
 * The NSC's data-plane liveness check for heal (upstream: sdk-kernel pkg/kernel/tools/heal,
 * KernelLivenessCheck): ICMP echo from the client's netns, over the connection's interface, from
 * each source address to each destination address of the same family. Alive when every pair
 * answered within the timeout; a connection that is not KERNEL, or has no addresses, counts as
 * alive (nothing to check). Differences: we bind to the connection's interface (upstream pings
 * from the pod netns by route), stop at the first reply instead of sending all 4 packets, and
 * read "cannot check" (no such interface, no CAP_NET_RAW) as dead with a log line.
 *
 *   const nsc = client({ ..., heal: { livenessCheck: kernelLivenessCheck({ netnsUrl }) } });
 */
import { kernel, type Connection } from "../../../api/index.js";
import { messageOf } from "../../../core/index.js";
import { icmpEcho } from "../../../native.js";
import type { Logger } from "../../../tools/log.js";

/** Resolves true while the connection's data plane answers; `timeoutMs` bounds one check. */
export type LivenessCheck = (conn: Connection, signal: AbortSignal, timeoutMs: number) => Promise<boolean>;

export interface KernelLivenessOptions {
  /** the client's netns as a file:// URL (NSM_NETNS_URL); default: the mechanism's, else ours */
  netnsUrl?: string;
  /** echo requests spread over the timeout (upstream: 4) */
  count?: number;
  log?: Logger;
  /** the echo (tests) */
  echo?: typeof icmpEcho;
}

const addr = (cidr: string) => cidr.split("/")[0]!;
const family = (a: string) => (a.includes(":") ? 6 : 4);

function netnsPath(url: string | undefined): string | undefined {
  if (!url?.startsWith("file://")) return undefined;
  try {
    return decodeURIComponent(new URL(url).pathname);
  } catch {
    return undefined;
  }
}

export function kernelLivenessCheck(o: KernelLivenessOptions = {}): LivenessCheck {
  const echo = o.echo ?? icmpEcho;
  /** the last "cannot ping" reason warned per connection id */
  const lastWarn = new Map<string, string>();
  return async (conn, signal, timeoutMs) => {
    if (conn.mechanism?.type !== kernel.MECHANISM) return true;
    const ip = conn.context?.ipContext;
    const srcs = (ip?.srcIpAddrs ?? []).map(addr);
    const dsts = (ip?.dstIpAddrs ?? []).map(addr);
    if (!srcs.length || !dsts.length) return true;
    const netns = netnsPath(o.netnsUrl) ?? netnsPath(kernel.netnsUrlOf(conn)) ?? "/proc/self/ns/net";
    const ifname = kernel.ifnameOf(conn) || undefined;
    const pairs = srcs.flatMap((s) => dsts.filter((d) => family(d) === family(s)).map((d) => [s, d] as const));
    if (signal.aborted) return false;
    const ms = Math.max(1, Math.min(60_000, Math.round(timeoutMs)));
    const results = await Promise.all(
      pairs.map(async ([src, dst]) => {
        try {
          const r = await echo(netns, { src, dst, ...(ifname ? { ifname } : {}), timeoutMs: ms, count: o.count ?? 4 });
          return r.received > 0;
        } catch (e) {
          // warn once per connection and reason: heal re-checks every attempt and must not flood the log
          const err = messageOf(e);
          const seen = lastWarn.get(conn.id) === err;
          lastWarn.set(conn.id, err);
          if (lastWarn.size > 1024) lastWarn.delete(lastWarn.keys().next().value!);
          (seen ? o.log?.debug : o.log?.warn)?.call(
            o.log,
            { connId: conn.id, src, dst, ifname, err },
            "liveness check: cannot ping",
          );
          return false;
        }
      }),
    );
    return results.every(Boolean);
  };
}
