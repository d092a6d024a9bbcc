/**
 * Shared MonitorConnection streams for elements that watch what the next hop says about each of
 * their connections: the monitor server's relay (nsmgr, forwarder), heal and upstreamrefresh. One
 * stream per next hop and segment name, whose selector names only that segment (it matches every
 * connection that passed through us); each connection registers a watcher under its segment id
 * and gets the events about it, and `end` when the stream breaks (the next hop went away or closed
 * it). A segment id may have several watchers (heal and upstreamrefresh of one NSC client share
 * the hubs: chains/client.ts). The stream closes with its last watcher.
 *
 * upstream opens one stream per connection and re-opens it on every Request; the wire format is
 * the same, the next hop sees one stream instead of one per connection (see docs/performance.md).
 *
 *   const hubs = new MonitorHubs(lifetime);
 *   const watch = hubs.watch(cc, seg.name, seg.id, log, { event(type, c) {...}, end(reason) {...} });
 *   if (!watch.live) ...; watch.stop();
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
  /** the stream broke while this watcher was on it (not called after its own stop, nor when the lifetime ends) */
  end(reason: string): void;
}

/** what a stream is opened to: a dialled next hop (CLIENT_CONN's ClientConn fits); `url` only names it in logs */
export interface MonitorHop {
  readonly monitor: MonitorConnectionServer;
  readonly url?: string;
}

export interface HubWatch {
  /** false once the shared stream ended (it broke, or the lifetime ended): watch again to follow the connection */
  readonly live: boolean;
  /** leaves the stream (idempotent); the last watcher to leave closes it */
  stop(): void;
}

class Stream {
  /** watchers by segment id; a Set per id keeps each registration apart */
  private readonly bySeg = new Map<string, Set<Watch>>();
  private count = 0;
  private readonly ac = new AbortController();
  dead = false;
  constructor(
    hop: MonitorHop,
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
        for await (const ev of hop.monitor.monitorConnections(sel, newCtx({ signal, log }))) {
          for (const c of Object.values(ev.connections)) {
            // by segment id: O(path length) per event, not O(our connections through this hop)
            let seen: Set<Watch> | undefined;
            for (const s of c.path?.pathSegments ?? []) {
              const ws = s.name === segName ? this.bySeg.get(s.id) : undefined;
              if (!ws || ws === seen) continue;
              seen = ws;
              // live iteration: a watcher that an earlier one's handler stopped gets nothing more
              for (const w of ws) w.w.event(ev.type, c);
            }
          }
        }
      } catch (e) {
        reason = `monitor stream to the next hop failed: ${messageOf(e)}`;
      }
      const left = [...this.bySeg.values()].flatMap((ws) => [...ws]);
      const broken = !signal.aborted; // not our own stop (last watcher gone) nor the lifetime's end
      this.stop();
      if (!broken) return;
      log.debug({ url: hop.url, segName, err: reason, watchers: left.length }, "monitor hub: next hop stream lost");
      for (const w of left) w.w.end(reason);
    })();
  }
  add(segId: string, w: Watch): void {
    let ws = this.bySeg.get(segId);
    if (!ws) this.bySeg.set(segId, (ws = new Set()));
    ws.add(w);
    this.count++;
  }
  remove(segId: string, w: Watch): void {
    const ws = this.bySeg.get(segId);
    if (ws?.delete(w)) {
      this.count--;
      if (!ws.size) this.bySeg.delete(segId);
    }
    if (!this.count) this.stop();
  }
  private stop(): void {
    if (this.dead) return;
    this.dead = true;
    this.bySeg.clear();
    this.count = 0;
    this.onEnd();
    this.ac.abort();
  }
}

class Watch implements HubWatch {
  private stopped = false;
  constructor(
    readonly w: HubWatcher,
    private readonly stream: Stream,
    private readonly segId: string,
  ) {}
  get live(): boolean {
    return !this.stream.dead;
  }
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stream.remove(this.segId, this);
  }
}

export class MonitorHubs {
  private readonly hubs = new Map<MonitorConnectionServer, Map<string, Stream>>();
  constructor(private readonly lifetime: AbortSignal) {}

  /** Watches `segId`'s connections on the shared stream to `hop` (opened with the first watcher). */
  watch(hop: MonitorHop, segName: string, segId: string, log: Ctx["log"], w: HubWatcher): HubWatch {
    const monitor = hop.monitor;
    let byName = this.hubs.get(monitor);
    if (!byName) this.hubs.set(monitor, (byName = new Map()));
    let stream = byName.get(segName);
    if (!stream || stream.dead) {
      const m = byName;
      const s: Stream = new Stream(hop, segName, this.lifetime, log, () => {
        if (m.get(segName) === s) m.delete(segName);
        if (!m.size && this.hubs.get(monitor) === m) this.hubs.delete(monitor);
      });
      byName.set(segName, (stream = s));
    }
    const watch = new Watch(w, stream, segId);
    stream.add(segId, watch);
    return watch;
  }

  /** live shared streams (tests) */
  get streams(): number {
    let n = 0;
    for (const m of this.hubs.values()) n += m.size;
    return n;
  }
}
