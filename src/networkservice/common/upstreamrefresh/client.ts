/**
 * upstreamRefreshClient (NSC side; upstream `sdk/pkg/networkservice/common/upstreamrefresh`):
 * after each successful Request it watches the next hop's MonitorConnection for our connection
 * and, when an UPDATE says REFRESH_REQUESTED (the endpoint changed what it hands out: a vL3
 * endpoint's MTU or prefix), requests again through begin's event factory, so the new context
 * reaches our side without waiting for the next refresh. A Close ends the watch; a broken stream
 * just ends it (heal looks after lost connections) and the connection's next Request watches
 * again.
 *
 * upstream opens one stream per connection and re-opens it on every Request; we differ: one
 * stream per next hop and segment name, shared by all our connections through it
 * (utils/monitorhub.ts), so a Request or refresh costs no stream set-up, initial state transfer
 * and cancel. The wire format is the same; a next hop sees one stream instead of many.
 *
 *   client({ ..., extra: [upstreamRefreshClient(signal), ...] }) // after dial has set CLIENT_CONN
 */
import { ConnectionEventType, ConnectionState, type Connection } from "../../../api/index.js";
import {
  eventFactory,
  messageOf,
  metaKey,
  type ClientElement,
  type Ctx,
  type EventFactory,
  type MonitorConnectionServer,
} from "../../../core/index.js";
import { MonitorHubs, type HubWatch } from "../../utils/monitorhub.js";
import { clientConnOf } from "../../utils/nexthop.js";

type Watch = {
  monitor: MonitorConnectionServer;
  segName: string;
  segId: string;
  /** the latest Request's event factory (a refresh re-requests through it) */
  events: EventFactory;
  /** on the shared stream; not live once it broke: the next Request watches again */
  hub: HubWatch;
};
const WATCH = metaKey<Watch>("upstreamrefresh/watch");

export interface UpstreamRefreshOptions {
  /** the monitor streams to watch on (default: this element's own); client() shares them with healClient */
  hubs?: MonitorHubs;
}

export function upstreamRefreshClient(lifetime: AbortSignal, o: UpstreamRefreshOptions = {}): ClientElement {
  const hubs = o.hubs ?? new MonitorHubs(lifetime);
  const stop = (ctx: Ctx) => {
    ctx.clientMeta.get(WATCH)?.hub.stop();
    ctx.clientMeta.delete(WATCH);
  };
  return {
    async request(req, ctx, next) {
      const conn: Connection = await next.request(req, ctx);
      const events = eventFactory(ctx, "client");
      const cc = clientConnOf(ctx);
      const seg = conn.path?.pathSegments[conn.path?.index ?? 0];
      if (!events || !cc || !seg || lifetime.aborted) {
        stop(ctx);
        return conn;
      }
      const old = ctx.clientMeta.get(WATCH);
      // the same stream still carries this connection's events: nothing to (re)open
      if (old?.hub.live && old.monitor === cc.monitor && old.segName === seg.name && old.segId === seg.id) {
        old.events = events;
        return conn;
      }
      stop(ctx);
      const log = ctx.log;
      const connId = conn.id;
      // events arrive asynchronously, after `w` below is set
      const hub = hubs.watch(cc, seg.name, seg.id, log, {
        event(type, c) {
          if (type !== ConnectionEventType.UPDATE || c.state !== ConnectionState.REFRESH_REQUESTED) return;
          log.info({ connId }, "upstreamrefresh: the endpoint asks for a refresh, requesting again");
          void w.events.request({ signal: lifetime }).catch((e: unknown) => {
            if (!lifetime.aborted) log.warn({ connId, err: messageOf(e) }, "upstreamrefresh: request failed");
          });
        },
        end(reason) {
          log.debug({ connId, reason }, "upstreamrefresh: monitor stream ended");
        },
      });
      const w: Watch = { monitor: cc.monitor, segName: seg.name, segId: seg.id, events, hub };
      ctx.clientMeta.set(WATCH, w);
      return conn;
    },
    async close(conn, ctx, next) {
      stop(ctx);
      return next.close(conn, ctx);
    },
  };
}
