/**
 * monitorServer: the process's MonitorConnection service. Every subscriber first gets one
 * INITIAL_STATE_TRANSFER (even if empty), then UPDATE after each successful Request, DELETE
 * after Close, and UPDATE with state DOWN when a refresh fails or the next hop loses our
 * connection. Inner elements find an event sender in ctx (MONITOR_EVENTS) to ask the client of
 * a connection to request again (UPDATE, state REFRESH_REQUESTED). In a passthrough process
 * (nsmgr, forwarder) it watches the next hop and relays what happens to our connections there.
 *
 *   const monitor = monitorServer(signal);
 *   const server = chain(..., monitor, ...);
 *   await serve(urls, { networkService: server, monitor });
 */
import {
  clone,
  ConnectionEventSchema,
  ConnectionEventType,
  ConnectionSchema,
  ConnectionState,
  create,
  equals,
  ConnectionContextSchema,
  PathSchema,
  type Connection,
  type ConnectionEvent,
  type MonitorScopeSelector,
} from "../../../api/index.js";
import { metaKey, type Ctx, type MonitorConnectionServer, type ServerElement } from "../../../core/index.js";
import { MONITOR_EVENTS, NEXT_HOP, type ClientConn, type MonitorEventSender } from "../../utils/keys.js";
import { MonitorHubs, type HubWatch } from "../../utils/monitorhub.js";
import { matchesSelector } from "../../utils/path.js";
import { AsyncQueue } from "../../utils/queue.js";

const RELAY = metaKey<{ conn: ClientConn; watch: HubWatch }>("monitor/relay");

export interface MonitorServer extends ServerElement, MonitorConnectionServer {
  /** connections currently known (id → our view) */
  readonly connections: ReadonlyMap<string, Connection>;
  /** live subscriber streams */
  readonly subscribers: number;
}

/** events not yet sent: consecutive ones of one type merge (latest state per connection id) */
type Pending = { type: ConnectionEventType; conns: Map<string, Connection> };
type Sub = { sel: MonitorScopeSelector; q: AsyncQueue<ConnectionEvent>; pending: Pending[] };
export function monitorServer(lifetime: AbortSignal): MonitorServer {
  const connections = new Map<string, Connection>();
  const subs = new Set<Sub>();
  // one stream per next hop, shared by all our connections through it (utils/monitorhub.ts)
  const hubs = new MonitorHubs(lifetime);

  // Events go out after the current I/O turn: the reply to the Request that caused them is
  // written first, and what several Requests published meanwhile leaves as one event (the
  // `connections` map of a ConnectionEvent carries many) instead of one stream message each.
  let flushing = false;
  const dirty = new Set<Sub>();
  const flush = () => {
    flushing = false;
    for (const s of dirty) {
      if (!subs.has(s)) continue; // ended meanwhile
      for (const p of s.pending)
        s.q.push(create(ConnectionEventSchema, { type: p.type, connections: Object.fromEntries(p.conns) }));
      s.pending = [];
    }
    dirty.clear();
  };
  // Subscribers whose selector names a segment id (upstream clients: one stream per connection)
  // are found by that id; only the others (by name, or empty) are checked against every event.
  // So an event costs O(path length + streams by name), not O(streams): with a stream per live
  // connection the latter grew with the number of live connections.
  const subsById = new Map<string, Set<Sub>>();
  const general = new Set<Sub>();
  const keyOf = (sel: MonitorScopeSelector) => sel.pathSegments.find((x) => x.id)?.id;
  const addSub = (sub: Sub) => {
    subs.add(sub);
    const k = keyOf(sub.sel);
    if (k === undefined) return void general.add(sub);
    let set = subsById.get(k);
    if (!set) subsById.set(k, (set = new Set()));
    set.add(sub);
  };
  const deleteSub = (sub: Sub) => {
    subs.delete(sub);
    general.delete(sub);
    const k = keyOf(sub.sel);
    const set = k === undefined ? undefined : subsById.get(k);
    if (set?.delete(sub) && !set.size) subsById.delete(k!);
  };
  const candidates = (c: Connection): Iterable<Sub> => {
    if (!subsById.size) return general;
    const out = new Set(general);
    for (const seg of c.path?.pathSegments ?? []) for (const s of subsById.get(seg.id) ?? []) out.add(s);
    return out;
  };
  // the same for connections: our connections by the ids of their path segments (initial state
  // transfer to a selector by id)
  const bySeg = new Map<string, Set<string>>();
  const indexConn = (c: Connection, add: boolean) => {
    for (const seg of c.path?.pathSegments ?? []) {
      if (!seg.id) continue;
      let set = bySeg.get(seg.id);
      if (add) {
        if (!set) bySeg.set(seg.id, (set = new Set()));
        set.add(c.id);
      } else if (set?.delete(c.id) && !set.size) bySeg.delete(seg.id);
    }
  };
  const putConn = (c: Connection) => {
    const old = connections.get(c.id);
    if (old) indexConn(old, false);
    connections.set(c.id, c);
    indexConn(c, true);
  };
  const deleteConn = (id: string) => {
    const old = connections.get(id);
    if (old) indexConn(old, false);
    connections.delete(id);
  };
  const publish = (type: ConnectionEventType, conns: readonly Connection[]) => {
    for (const c of conns) {
      for (const s of candidates(c)) {
        if (!matchesSelector(s.sel, c)) continue;
        let last = s.pending[s.pending.length - 1];
        if (last?.type !== type) {
          last = { type, conns: new Map() };
          s.pending.push(last);
        }
        last.conns.set(c.id, c);
        dirty.add(s);
        if (!flushing) {
          flushing = true;
          setImmediate(flush);
        }
      }
    }
  };

  const startRelay = (ctx: Ctx, our: Connection, next: ClientConn) => {
    const idx = our.path!.index;
    const seg = our.path!.pathSegments[idx]!;
    const id = our.id;
    const relay = (down: Connection | undefined, type: ConnectionEventType) => {
      const stored = connections.get(id);
      if (!stored) return;
      let out: Connection;
      if (!down) {
        out = clone(ConnectionSchema, stored);
        out.state = ConnectionState.DOWN;
      } else {
        if (down.path?.pathSegments[idx]?.id !== seg.id) return;
        const state = type === ConnectionEventType.DELETE ? ConnectionState.DOWN : down.state;
        const ctxChanged =
          down.context &&
          !equals(ConnectionContextSchema, down.context, stored.context ?? create(ConnectionContextSchema));
        if (state === ConnectionState.UP && !ctxChanged) return; // our own refreshes echo back: nothing new
        if (type === ConnectionEventType.INITIAL_STATE_TRANSFER && state === ConnectionState.UP) return;
        out = clone(ConnectionSchema, stored);
        if (down.path) {
          out.path = clone(PathSchema, down.path);
          out.path.index = idx;
        }
        if (down.context) out.context = down.context;
        out.state = state;
      }
      if (out.state === stored.state && out.state === ConnectionState.DOWN) return;
      putConn(out);
      ctx.log.debug({ connId: id, state: ConnectionState[out.state] }, "monitor: relaying next hop event");
      publish(ConnectionEventType.UPDATE, [out]);
    };
    // a broken stream: our connections through that next hop are DOWN
    const watch = hubs.watch(next, seg.name, seg.id, ctx.log, {
      event: (type, c) => relay(c, type),
      end: () => relay(undefined, ConnectionEventType.UPDATE),
    });
    ctx.meta.set(RELAY, { conn: next, watch });
  };

  const sender: MonitorEventSender = {
    refreshRequested(id, edit) {
      const stored = connections.get(id);
      if (!stored) return false;
      const out = clone(ConnectionSchema, stored);
      edit?.(out);
      out.state = ConnectionState.REFRESH_REQUESTED;
      publish(ConnectionEventType.UPDATE, [out]);
      return true;
    },
  };

  return {
    connections,
    get subscribers() {
      return subs.size;
    },

    async request(req, ctx, next) {
      const slot: { conn?: ClientConn } = {};
      let conn: Connection;
      try {
        conn = await next.request(req, ctx.withValue(NEXT_HOP, slot).withValue(MONITOR_EVENTS, sender));
      } catch (e) {
        const old = connections.get(req.connection!.id);
        if (old) {
          const down = clone(ConnectionSchema, old);
          down.state = ConnectionState.DOWN;
          putConn(down);
          publish(ConnectionEventType.UPDATE, [down]);
        }
        throw e;
      }
      const mine = clone(ConnectionSchema, conn);
      putConn(mine);
      publish(ConnectionEventType.UPDATE, [mine]);
      const relay = ctx.meta.get(RELAY);
      const keep = relay && relay.conn === slot.conn && relay.watch.live;
      if (relay && !keep) {
        relay.watch.stop();
        ctx.meta.delete(RELAY);
      }
      if (slot.conn && !keep && !lifetime.aborted && mine.path) startRelay(ctx, mine, slot.conn);
      return conn;
    },

    async close(conn, ctx, next) {
      ctx.meta.get(RELAY)?.watch.stop();
      ctx.meta.delete(RELAY);
      try {
        await next.close(conn, ctx);
      } finally {
        const known = connections.get(conn.id) ?? conn;
        deleteConn(conn.id);
        publish(ConnectionEventType.DELETE, [known]);
      }
    },

    monitorConnections(sel, ctx) {
      const q = new AsyncQueue<ConnectionEvent>();
      const sub: Sub = { sel, q, pending: [] };
      const initial: Record<string, Connection> = {};
      const k = keyOf(sel);
      const pool = k === undefined ? connections.values() : [...(bySeg.get(k) ?? [])].map((id) => connections.get(id)!);
      for (const c of pool) if (matchesSelector(sel, c)) initial[c.id] = c;
      q.push(create(ConnectionEventSchema, { type: ConnectionEventType.INITIAL_STATE_TRANSFER, connections: initial }));
      addSub(sub);
      const end = () => {
        deleteSub(sub);
        q.end();
        ctx.signal.removeEventListener("abort", end);
        lifetime.removeEventListener("abort", end);
      };
      ctx.signal.addEventListener("abort", end, { once: true });
      lifetime.addEventListener("abort", end, { once: true });
      if (ctx.signal.aborted || lifetime.aborted) end();
      return {
        [Symbol.asyncIterator]: () => ({
          next: () => q.next(),
          return: async () => {
            end();
            return { value: undefined, done: true as const };
          },
        }),
      };
    },
  };
}
