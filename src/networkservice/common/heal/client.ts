/**
 * healClient (NSC side; not for passthrough processes): after each successful Request it watches
 * the next hop's MonitorConnection for our connection and, when the control plane reports it
 * DOWN or deleted, or the stream itself breaks (nsmgr restarted), re-requests until the
 * connection is back. With a liveness check (the data plane answers: see liveness.ts) the
 * re-request keeps the path (same NSE, same addresses, nothing torn down); without one, or when
 * it fails, the re-request reselects: the old path is closed and discover/roundrobin pick a new
 * endpoint and forwarder. The check also runs every `livenessIntervalMs` and heals (reselect)
 * when it fails. UPDATE events refresh our copy of the connection (path, context, state), so
 * the check pings the addresses the connection has now.
 *
 * upstream: sdk pkg/networkservice/common/heal; we differ in waiting between failed attempts
 * (`retryMs`, default 100 ms, doubling up to `maxRetryMs`, default 500 ms: a heal must notice a restarted peer within a second) instead of spinning, and
 * log why an attempt failed (the first, then every change of reason or each 10th), in re-dialling
 * (dial evicts the broken channel) so a restarted nsmgr is reached without grpc's reconnect
 * back-off, and in one escalation: when a live control plane said DOWN (not a broken stream) and
 * a plain re-request then fails, the next attempt reselects. upstream relies on the NSE's netns
 * dying with it; a netns that outlives its NSE still answers ICMP from the kernel, and plain
 * re-requests would retry the dead NSE forever. The cost: when the forwarder dies (nsmgr says
 * DOWN) and has not re-registered by the first plain attempt, we reselect where upstream would
 * keep the path once it is back.
 */
import {
  clone,
  ConnectionEventType,
  ConnectionSchema,
  ConnectionState,
  equals,
  type Connection,
} from "../../../api/index.js";
import { eventFactory, messageOf, metaKey, type ClientElement, type Ctx } from "../../../core/index.js";
import { MonitorHubs } from "../../utils/monitorhub.js";
import { clientConnOf, nextHopWatch } from "../../utils/nexthop.js";
import type { LivenessCheck } from "./liveness.js";

export interface HealOptions {
  /** data-plane check; false = the data path is broken (heal with reselect). See kernelLivenessCheck. */
  livenessCheck?: LivenessCheck;
  /** period of the data-plane check (default 200 ms) */
  livenessIntervalMs?: number;
  /** per-check timeout (default 1 s) */
  livenessTimeoutMs?: number;
  /** first pause between failed heal attempts (default 100 ms); it doubles after each failure */
  retryMs?: number;
  /** longest pause between failed heal attempts (default 500 ms: the peer that comes back is found within ~0.5 s) */
  maxRetryMs?: number;
  /** a reselect keeps the endpoint name (a vL3 endpoint heals its link to one given peer, not to any) */
  keepEndpoint?: boolean;
  /** called with the reason each time healing starts (tests, metrics) */
  onHeal?: (connId: string, reason: string) => void;
  /** called with the new connection when healing succeeded */
  onHealed?: (connId: string, conn: Connection) => void;
  /**
   * the monitor streams to watch on (default: this element's own); client() passes the ones it
   * shares with upstreamRefreshClient, so each next hop sees one stream from the NSC, not two
   */
  hubs?: MonitorHubs;
}

/** `superseded` ends the whole loop (a later Request succeeded); `watching` only the monitoring (Close). */
const LOOP = metaKey<{ superseded: AbortController; watching: AbortController }>("heal/loop");

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((res) => {
    if (signal.aborted) return res();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      res();
    }
    signal.addEventListener("abort", done, { once: true });
  });

export function healClient(lifetime: AbortSignal, o: HealOptions = {}): ClientElement {
  const retryMs = o.retryMs ?? 100;
  const hubs = o.hubs ?? new MonitorHubs(lifetime);

  const check = async (conn: Connection, signal: AbortSignal): Promise<boolean> => {
    if (!o.livenessCheck) return false;
    const ms = o.livenessTimeoutMs ?? 1000;
    const s = AbortSignal.any([signal, AbortSignal.timeout(ms)]);
    try {
      return await o.livenessCheck(conn, s, ms);
    } catch {
      return false;
    }
  };

  const start = (ctx: Ctx, returned: Connection) => {
    let conn = clone(ConnectionSchema, returned);
    const events = eventFactory(ctx, "client");
    const hop = nextHopWatch(ctx, conn);
    const cc = clientConnOf(ctx);
    if (!events || !hop || !cc) return;
    const { idx } = hop;
    const ac = new AbortController();
    const watching = new AbortController();
    ctx.clientMeta.set(LOOP, { superseded: ac, watching });
    // a Close that is part of a reselect must not stop healing: the loop ends when the connection
    // is gone (events.request resolves undefined), a later Request succeeded, or the lifetime ends
    const signal = AbortSignal.any([lifetime, ac.signal]);
    const log = ctx.log;

    /** `saidDown`: a live control plane reported the connection DOWN or deleted (not a broken stream) */
    const heal = async (reason: string, saidDown = false) => {
      watching.abort();
      if (signal.aborted) return;
      o.onHeal?.(conn.id, reason);
      log.info({ connId: conn.id, reason }, "heal: connection lost, re-requesting");
      let escalate = false;
      let lastErr = "";
      for (let attempt = 1; !signal.aborted; attempt++) {
        const reselect = escalate || !(await check(conn, signal));
        try {
          const restored = await events.request({ reselect, keepEndpoint: o.keepEndpoint, signal });
          if (restored) {
            log.info(
              { connId: conn.id, attempt, reselect, nse: restored.networkServiceEndpointName },
              "heal: connection restored",
            );
            o.onHealed?.(conn.id, restored);
          }
          return;
        } catch (e) {
          if (signal.aborted) return;
          const err = messageOf(e);
          const wait = Math.min(o.maxRetryMs ?? 500, retryMs * 2 ** Math.min(attempt - 1, 16));
          if (err !== lastErr || attempt % 10 === 0)
            log.warn({ connId: conn.id, attempt, reselect, err, retryInMs: wait }, "heal: re-request failed, retrying");
          lastErr = err;
          if (saidDown && !reselect) {
            escalate = true; // the path behind a live nsmgr is broken although the data plane answers
            continue;
          }
          await sleep(wait, signal);
        }
      }
    };

    // the next hop's events about this connection, on the stream shared by all our connections
    // through it (utils/monitorhub.ts; upstream: a stream per connection, re-opened per Request)
    const watch = hubs.watch(cc, hop.seg.name, hop.seg.id, log, {
      event(type, c) {
        if (watching.signal.aborted || !hop.mine(c)) return;
        const at = c.path!.index;
        if (at !== idx && at !== idx + 1) return;
        if (type === ConnectionEventType.DELETE) return void heal("the control plane deleted the connection", true);
        if (c.state === ConnectionState.DOWN) return void heal("the control plane reports the connection DOWN", true);
        // upstream's client filter: our copy follows what the control plane says the connection is
        const seen = clone(ConnectionSchema, conn);
        seen.path = clone(ConnectionSchema, c).path;
        seen.path!.index = idx;
        seen.context = c.context && clone(ConnectionSchema, c).context;
        seen.state = c.state;
        if (!equals(ConnectionSchema, seen, conn)) conn = seen;
      },
      end(reason) {
        if (!signal.aborted && !watching.signal.aborted) void heal(reason);
      },
    });
    watching.signal.addEventListener("abort", () => watch.stop(), { once: true });

    if (o.livenessCheck) {
      void (async () => {
        const wsig = AbortSignal.any([signal, watching.signal]);
        while (!wsig.aborted) {
          await sleep(o.livenessIntervalMs ?? 200, wsig);
          if (wsig.aborted) return;
          if (!(await check(conn, wsig)) && !wsig.aborted) {
            void heal("data plane check failed");
            return;
          }
        }
      })();
    }
  };

  return {
    async request(req, ctx, next) {
      const conn = await next.request(req, ctx);
      // stopped only after success: a failed re-request keeps the old loop (and its healing) going
      const old = ctx.clientMeta.get(LOOP);
      old?.watching.abort();
      old?.superseded.abort();
      ctx.clientMeta.delete(LOOP);
      if (!lifetime.aborted) start(ctx, conn);
      return conn;
    },
    async close(conn, ctx, next) {
      ctx.clientMeta.get(LOOP)?.watching.abort();
      return next.close(conn, ctx);
    },
  };
}
