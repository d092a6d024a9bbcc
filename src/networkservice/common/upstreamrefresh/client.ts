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
 * stream per next hop and segment name, shared by all our connections through it (the selector
 * names only our segment, which matches every connection that passed through us, as the monitor
 * server's relay does), so a Request or refresh costs no stream set-up, initial state transfer
 * and cancel. The wire format is the same; a next hop sees one stream instead of many.
 *
 *   client({ ..., extra: [upstreamRefreshClient(signal), ...] }) // after dial has set CLIENT_CONN
 */
import {
  ConnectionEventType,
  ConnectionState,
  create,
  MonitorScopeSelectorSchema,
  PathSegmentSchema,
  type Connection,
} from "../../../api/index.js";
import {
  eventFactory,
  messageOf,
  metaKey,
  newCtx,
  type ClientElement,
  type Ctx,
  type EventFactory,
  type MonitorConnectionServer,
} from "../../../core/index.js";
import { clientConnOf } from "../../utils/nexthop.js";

type Watcher = { events: EventFactory; log: Ctx["log"]; connId: string };

/** One MonitorConnections stream to a next hop for one segment name; watchers by segment id. */
class Hub {
  readonly watchers = new Map<string, Watcher>();
  private readonly ac = new AbortController();
  dead = false;
  constructor(
    monitor: MonitorConnectionServer,
    segName: string,
    private readonly lifetime: AbortSignal,
    log: Ctx["log"],
    private readonly onEnd: () => void,
  ) {
    const signal = AbortSignal.any([lifetime, this.ac.signal]);
    const sel = create(MonitorScopeSelectorSchema, { pathSegments: [create(PathSegmentSchema, { name: segName })] });
    void (async () => {
      try {
        for await (const ev of monitor.monitorConnections(sel, newCtx({ signal, log }))) {
          if (ev.type !== ConnectionEventType.UPDATE) continue;
          for (const c of Object.values(ev.connections)) {
            if (c.state !== ConnectionState.REFRESH_REQUESTED) continue;
            for (const s of c.path?.pathSegments ?? []) {
              const w = s.name === segName ? this.watchers.get(s.id) : undefined;
              if (w) this.refresh(w, signal);
            }
          }
        }
      } catch (e) {
        if (!signal.aborted) log.debug({ err: messageOf(e) }, "upstreamrefresh: monitor stream ended");
      }
      this.end();
    })();
  }

  private refresh(w: Watcher, signal: AbortSignal): void {
    w.log.info({ connId: w.connId }, "upstreamrefresh: the endpoint asks for a refresh, requesting again");
    void w.events.request({ signal: this.lifetime }).catch((e: unknown) => {
      if (!signal.aborted) w.log.warn({ connId: w.connId, err: messageOf(e) }, "upstreamrefresh: request failed");
    });
  }

  unwatch(segId: string, w: Watcher): void {
    if (this.watchers.get(segId) === w) this.watchers.delete(segId);
    if (!this.watchers.size) this.end();
  }

  private end(): void {
    if (this.dead) return;
    this.dead = true;
    this.watchers.clear();
    this.onEnd();
    this.ac.abort();
  }
}

type Watch = { hub: Hub; segId: string; w: Watcher };
const WATCH = metaKey<Watch>("upstreamrefresh/watch");

export function upstreamRefreshClient(lifetime: AbortSignal): ClientElement {
  const hubs = new Map<MonitorConnectionServer, Map<string, Hub>>();
  const hubFor = (monitor: MonitorConnectionServer, segName: string, log: Ctx["log"]): Hub => {
    let byName = hubs.get(monitor);
    if (!byName) hubs.set(monitor, (byName = new Map()));
    let hub = byName.get(segName);
    if (!hub || hub.dead) {
      const h: Hub = new Hub(monitor, segName, lifetime, log, () => {
        if (byName.get(segName) === h) byName.delete(segName);
        if (!byName.size && hubs.get(monitor) === byName) hubs.delete(monitor);
      });
      byName.set(segName, (hub = h));
    }
    return hub;
  };
  const stop = (ctx: Ctx) => {
    const old = ctx.clientMeta.get(WATCH);
    if (old) old.hub.unwatch(old.segId, old.w);
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
      if (old && !old.hub.dead && old.segId === seg.id && old.hub === hubs.get(cc.monitor)?.get(seg.name)) {
        old.w.events = events;
        return conn;
      }
      stop(ctx);
      const hub = hubFor(cc.monitor, seg.name, ctx.log);
      const w: Watcher = { events, log: ctx.log, connId: conn.id };
      hub.watchers.set(seg.id, w);
      ctx.clientMeta.set(WATCH, { hub, segId: seg.id, w });
      return conn;
    },
    async close(conn, ctx, next) {
      stop(ctx);
      return next.close(conn, ctx);
    },
  };
}
