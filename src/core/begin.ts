/**
 * begin: everything for one connection id runs one at a time, in arrival order; a Close waits
 * for an in-flight Request. After the first successful Request the connection is "established"
 * and later elements can re-inject a Request (refresh, heal) or a Close (timeout) into the rest
 * of the chain through the EventFactory found with `eventFactory(ctx)`.
 *
 * Server side (as upstream `sdk/pkg/networkservice/common/begin`): a failed first Request leaves no trace; a failed
 * refresh keeps the old state; Close of an unknown id is a no-op; Close runs with the stored
 * connection; a Request with state RESELECT_REQUESTED first closes the stored connection.
 * Client side adds: the caller's request is merged with what was last returned, and
 * `request({ reselect: true })` closes the current path before asking again without the old
 * endpoint and mechanism.
 */
import {
  clone,
  create,
  equals,
  ConnectionSchema,
  ConnectionContextSchema,
  MechanismSchema,
  NetworkServiceRequestSchema,
  ConnectionState as State,
  type Connection,
  type NetworkServiceRequest,
} from "../api/index.js";
import type { ClientElement, NetworkServiceServer, ServerElement } from "./chain.js";
import { type Ctx, ctxKey, detach } from "./context.js";
import { NsmError, messageOf, status } from "../tools/errors.js";
import { Meta } from "./metadata.js";
import { SerialExecutor } from "./serial.js";

export interface EventOptions {
  /** drop the event if this has ended by the time it gets its turn (cancels stale timers): an AbortSignal or a TimerHandle */
  signal?: { readonly aborted: boolean };
  /** client only: close the current path and ask again without the old endpoint/mechanism */
  reselect?: boolean;
  /** client only, with reselect: keep the endpoint name */
  keepEndpoint?: boolean;
  /** time budget for the re-injected call; default the original request's budget */
  timeoutMs?: number;
}

/** Re-injects calls into the rest of the chain after `begin`, serialised with everything else. */
export interface EventFactory {
  readonly id: string;
  /** Re-runs the stored Request; resolves to the new connection, or undefined if not established (or dropped). */
  request(o?: EventOptions): Promise<Connection | undefined>;
  /** Closes the stored connection and forgets it. */
  close(o?: EventOptions): Promise<void>;
  /** The last connection returned for this id. */
  readonly connection: Connection | undefined;
}

const SERVER_EVENTS = ctxKey<EventFactory>("begin/server-events");
const CLIENT_EVENTS = ctxKey<EventFactory>("begin/client-events");
export function eventFactory(ctx: Ctx, side: "server" | "client" = "server"): EventFactory | undefined {
  return ctx.get(side === "server" ? SERVER_EVENTS : CLIENT_EVENTS);
}

type Side = "server" | "client";

class Factory implements EventFactory {
  readonly ex = new SerialExecutor();
  readonly meta = new Meta();
  established = false;
  closed = false;
  /** the mechanism preferences of the last successful Request (the connection is storedConn) */
  storedPrefs: NetworkServiceRequest["mechanismPreferences"] = [];
  storedConn: Connection | undefined;
  storedCtx: Ctx | undefined;
  budgetMs = Infinity;
  next: NetworkServiceServer | undefined;

  constructor(
    readonly id: string,
    private readonly owner: Begin,
  ) {}
  get connection(): Connection | undefined {
    return this.storedConn;
  }

  ctxFor(ctx: Ctx): Ctx {
    const c = this.owner.side === "server" ? ctx.with({ meta: this.meta }) : ctx.with({ clientMeta: this.meta });
    return c.withValue(this.owner.side === "server" ? SERVER_EVENTS : CLIENT_EVENTS, this);
  }
  eventCtx(o: EventOptions): Ctx {
    return this.ctxFor(detach(this.storedCtx!, this.owner.lifetime, o.timeoutMs ?? this.budgetMs));
  }

  request(o: EventOptions = {}): Promise<Connection | undefined> {
    return this.ex.run(async () => {
      if (o.signal?.aborted || !this.established || this.closed || !this.next) return undefined;
      const ctx = this.eventCtx(o);
      const next = this.next;
      const req = create(NetworkServiceRequestSchema, {
        connection: clone(ConnectionSchema, this.storedConn!),
        mechanismPreferences: this.storedPrefs.map((m) => clone(MechanismSchema, m)),
      });
      if (o.reselect && this.owner.side === "client") {
        try {
          await next.close(clone(ConnectionSchema, this.storedConn!), ctx);
        } catch (e) {
          ctx.log.warn({ connId: this.id, err: messageOf(e) }, "begin: close before reselect failed");
        }
        const conn = req.connection!;
        conn.mechanism = undefined;
        if (!o.keepEndpoint) conn.networkServiceEndpointName = "";
        conn.state = State.RESELECT_REQUESTED;
      }
      const conn = await next.request(req, ctx);
      conn.state = State.UP;
      this.storedPrefs = req.mechanismPreferences;
      this.storedConn = clone(ConnectionSchema, conn);
      return conn;
    });
  }

  close(o: EventOptions = {}): Promise<void> {
    return this.ex.run(async () => {
      if (o.signal?.aborted || !this.established || this.closed || !this.next) return;
      try {
        await this.next.close(clone(ConnectionSchema, this.storedConn!), this.eventCtx(o));
      } finally {
        this.owner.forget(this);
      }
    });
  }
}

class Begin {
  private readonly byId = new Map<string, Factory>();
  constructor(
    readonly side: Side,
    readonly lifetime: AbortSignal,
  ) {}

  forget(f: Factory): void {
    f.closed = true;
    f.established = false;
    if (this.byId.get(f.id) === f) this.byId.delete(f.id);
  }
  get size(): number {
    return this.byId.size;
  }

  async request(req: NetworkServiceRequest, ctx: Ctx, next: NetworkServiceServer): Promise<Connection> {
    const id = req.connection?.id;
    if (!id) throw new NsmError(status.INVALID_ARGUMENT, `${this.side} begin: request.connection.id must not be empty`);
    let f = this.byId.get(id);
    if (!f) {
      f = new Factory(id, this);
      this.byId.set(id, f);
    }
    const factory = f;
    const started = Date.now();
    return factory.ex.run(async () => {
      // closed and recreated while we queued: go again through the new factory
      if (factory.closed || this.byId.get(id) !== factory) return this.request(req, ctx, next);
      const c = factory.ctxFor(ctx);
      if (factory.established && this.side === "client") req = this.merge(req, factory);
      if (factory.established && this.side === "server" && req.connection?.state === State.RESELECT_REQUESTED) {
        try {
          await next.close(clone(ConnectionSchema, factory.storedConn!), c);
        } catch (e) {
          c.log.warn({ connId: id, err: messageOf(e) }, "begin: close of the previous connection on reselect failed");
        }
        factory.established = false;
      }
      try {
        const conn = await next.request(req, c);
        conn.state = State.UP;
        // the returned conn goes back up the chain (and is changed there): keep a copy, not it
        factory.storedPrefs = req.mechanismPreferences;
        factory.storedConn = clone(ConnectionSchema, conn);
        factory.storedCtx = ctx;
        factory.budgetMs = Number.isFinite(ctx.deadline) ? Math.max(1, ctx.deadline - started) : Infinity;
        factory.next = next;
        factory.established = true;
        return conn;
      } catch (e) {
        if (!factory.established) this.forget(factory);
        throw e;
      }
    });
  }

  /** Client merge: the stored connection is the base; a changed endpoint name or context from the caller wins. */
  private merge(req: NetworkServiceRequest, f: Factory): NetworkServiceRequest {
    const stored = f.storedConn!;
    const asked = req.connection!;
    const conn = clone(ConnectionSchema, stored);
    if (asked.networkServiceEndpointName && asked.networkServiceEndpointName !== stored.networkServiceEndpointName) {
      conn.networkServiceEndpointName = asked.networkServiceEndpointName;
    }
    if (
      asked.context &&
      !equals(ConnectionContextSchema, asked.context, stored.context ?? create(ConnectionContextSchema))
    ) {
      conn.context = asked.context;
    }
    if (Object.keys(asked.labels).length) conn.labels = { ...asked.labels };
    if (asked.state === State.RESELECT_REQUESTED) conn.state = asked.state;
    return create(NetworkServiceRequestSchema, { connection: conn, mechanismPreferences: req.mechanismPreferences });
  }

  async close(conn: Connection, ctx: Ctx, next: NetworkServiceServer): Promise<void> {
    const f = this.byId.get(conn.id);
    if (!f) return;
    return f.ex.run(async () => {
      if (f.closed || !f.established) return;
      try {
        await next.close(clone(ConnectionSchema, f.storedConn ?? conn), f.ctxFor(ctx));
      } finally {
        this.forget(f);
      }
    });
  }
}

export interface BeginOptions {
  /** lifetime of the component: events after it ends are dropped (default: never ends) */
  signal?: AbortSignal;
}

export function beginServer(o: BeginOptions = {}): ServerElement & { readonly size: number } {
  const b = new Begin("server", o.signal ?? new AbortController().signal);
  return {
    request: (req, ctx, next) => b.request(req, ctx, next),
    close: (conn, ctx, next) => b.close(conn, ctx, next),
    get size() {
      return b.size;
    },
  };
}

export function beginClient(o: BeginOptions = {}): ClientElement & { readonly size: number } {
  const b = new Begin("client", o.signal ?? new AbortController().signal);
  return {
    request: (req, ctx, next) => b.request(req, ctx, next),
    close: (conn, ctx, next) => b.close(conn, ctx, next),
    get size() {
      return b.size;
    },
  };
}
