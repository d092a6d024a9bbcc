/**
 * upstreamRefreshClient (NSC side; upstream `sdk/pkg/networkservice/common/upstreamrefresh`):
 * after each successful Request it watches the next hop's MonitorConnection for our connection
 * and, when an UPDATE says REFRESH_REQUESTED (the endpoint changed what it hands out: a vL3
 * endpoint's MTU or prefix), requests again through begin's event factory, so the new context
 * reaches our side without waiting for the next refresh. A Close or a later successful Request
 * ends the watch of the earlier one; a broken stream just ends it (heal looks after lost
 * connections).
 *
 *   client({ ..., extra: [upstreamRefreshClient(signal), ...] }) // after dial has set CLIENT_CONN
 */
import { ConnectionEventType, ConnectionState } from "../../../api/index.js";
import { eventFactory, messageOf, metaKey, type ClientElement } from "../../../core/index.js";
import { nextHopWatch } from "../../utils/nexthop.js";

const WATCH = metaKey<AbortController>("upstreamrefresh/watch");

export function upstreamRefreshClient(lifetime: AbortSignal): ClientElement {
  return {
    async request(req, ctx, next) {
      const conn = await next.request(req, ctx);
      ctx.clientMeta.get(WATCH)?.abort();
      ctx.clientMeta.delete(WATCH);
      const events = eventFactory(ctx, "client");
      const hop = nextHopWatch(ctx, conn);
      if (!events || !hop || lifetime.aborted) return conn;
      const ac = new AbortController();
      ctx.clientMeta.set(WATCH, ac);
      const signal = AbortSignal.any([lifetime, ac.signal]);
      const log = ctx.log;
      void (async () => {
        try {
          for await (const ev of hop.events(signal)) {
            if (ev.type !== ConnectionEventType.UPDATE) continue;
            const asked = Object.values(ev.connections).some(
              (c) => hop.mine(c) && c.state === ConnectionState.REFRESH_REQUESTED,
            );
            if (!asked) continue;
            log.info({ connId: conn.id }, "upstreamrefresh: the endpoint asks for a refresh, requesting again");
            // a successful Request replaces this watch with a new one; a failed one leaves it
            void events.request({ signal }).catch((e: unknown) => {
              if (!signal.aborted) log.warn({ connId: conn.id, err: messageOf(e) }, "upstreamrefresh: request failed");
            });
          }
        } catch (e) {
          if (!signal.aborted)
            log.debug({ connId: conn.id, err: messageOf(e) }, "upstreamrefresh: monitor stream ended");
        }
      })();
      return conn;
    },
    async close(conn, ctx, next) {
      ctx.clientMeta.get(WATCH)?.abort();
      ctx.clientMeta.delete(WATCH);
      return next.close(conn, ctx);
    },
  };
}
