/**
 * Shared MonitorConnections streams for client elements that watch the next hop per connection
 * (heal). One stream per next hop and segment name, whose selector names only that segment (it
 * matches every connection that passed through us, as the monitor server's relay does); each
 * connection registers a watcher under its segment id and gets the events about it, and `end`
 * when the stream ends (the next hop went away or closed it). The stream closes with its last
 * watcher.
 *
 * upstream opens one stream per connection and re-opens it on every Request; the wire format is
 * the same, the next hop sees one stream instead of one per connection (see docs/performance.md).
 *
 *   const hubs = new MonitorHubs(lifetime);
 *   const stop = hubs.watch(cc.monitor, seg.name, seg.id, log, { event(type, c) {...}, end(reason) {...} });
 */
import {
  create,
  MonitorScopeSelectorSchema,
  PathSegmentSchema,
  type Connection,
  type ConnectionEventType,
} from "../../api/index.js";
import { messageOf, newCtx, type Ctx, type MonitorConnectionServer } from "../../core/index.js";

export interface HubWatcher {
  /** an event's connection whose path has our segment id (every type, initial transfer included) */
  event(type: ConnectionEventType, c: Connection): void;
  /** the stream ended while this watcher was on it (not called after its own stop) */
  end(reason: string): void;
}

class Hub {
  readonly watchers = new Map<string, HubWatcher>();
  private readonly ac = new AbortController();
  dead = false;
  constructor(
    monitor: MonitorConnectionServer,
    segName: string,
    lifetime: AbortSignal,
    log: Ctx["log"],
    private readonly onEnd: () => void,
  ) {
    const signal = AbortSignal.any([lifetime, this.ac.signal]);
    const sel = create(MonitorScopeSelectorSchema, { pathSegments: [create(PathSegmentSchema, { name: segName })] });
    void (async () => {
      let reason = "the next hop closed the monitor stream";
      try {
        for await (const ev of monitor.monitorConnections(sel, newCtx({ signal, log }))) {
          for (const c of Object.values(ev.connections)) {
            let seen: HubWatcher | undefined;
            for (const s of c.path?.pathSegments ?? []) {
              const w = s.name === segName ? this.watchers.get(s.id) : undefined;
              if (w && w !== seen) {
                seen = w;
                w.event(ev.type, c);
              }
            }
          }
        }
      } catch (e) {
        reason = `monitor stream to the next hop failed: ${messageOf(e)}`;
      }
      const left = [...this.watchers.values()];
      const broken = !signal.aborted; // not our own stop (last watcher gone) nor the lifetime's end
      this.stop();
      if (broken) for (const w of left) w.end(reason);
    })();
  }
  unwatch(segId: string, w: HubWatcher): void {
    if (this.watchers.get(segId) === w) this.watchers.delete(segId);
    if (!this.watchers.size) this.stop();
  }
  private stop(): void {
    if (this.dead) return;
    this.dead = true;
    this.watchers.clear();
    this.onEnd();
    this.ac.abort();
  }
}

export class MonitorHubs {
  private readonly hubs = new Map<MonitorConnectionServer, Map<string, Hub>>();
  constructor(private readonly lifetime: AbortSignal) {}

  /** Watches `segId`'s connections on the shared stream to `monitor`; returns the stop function. */
  watch(monitor: MonitorConnectionServer, segName: string, segId: string, log: Ctx["log"], w: HubWatcher): () => void {
    let byName = this.hubs.get(monitor);
    if (!byName) this.hubs.set(monitor, (byName = new Map()));
    let hub = byName.get(segName);
    if (!hub || hub.dead) {
      const m = byName;
      const h: Hub = new Hub(monitor, segName, this.lifetime, log, () => {
        if (m.get(segName) === h) m.delete(segName);
        if (!m.size && this.hubs.get(monitor) === m) this.hubs.delete(monitor);
      });
      byName.set(segName, (hub = h));
    }
    const h = hub;
    h.watchers.set(segId, w);
    return () => h.unwatch(segId, w);
  }

  /** live shared streams (tests) */
  get streams(): number {
    let n = 0;
    for (const m of this.hubs.values()) n += m.size;
    return n;
  }
}
