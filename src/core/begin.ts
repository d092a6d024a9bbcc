/**
 * begin: everything for one connection id runs one at a time, in arrival order; a Close waits
 * for an in-flight Request. After the first successful Request the connection is "established"
 * and later elements can re-inject a Request (refresh, heal) or a Close (timeout) into the rest
 * of the chain through the EventFactory found with `eventFactory(ctx)`.
 *
 * Server side (as upstream `sdk/pkg/networkservice/common/begin`): a failed first Request leaves no trace; a failed
 * refresh keeps the old state; Close of an unknown id is a no-op; Close runs with the stored
 * connection; a Request with state RESELECT_REQUESTED first closes the stored connection.
 * Client side adds: the caller's request is merged three ways (see `mergeConnection`), and
 * `request({ reselect: true })` closes the current path before asking again without the old
 * endpoint and mechanism.
 *
 * A Request or Close that reaches begin again from within one of its own events (an element
 * after begin calling the chain's head with the event's ctx) passes straight through: it already
 * runs in the connection's turn, and queueing it would wait for itself.
 *
 * upstream: sdk pkg/networkservice/common/begin (client.go, server.go, merge.go). upstream keeps
 * one event factory per ctx whatever the side, so a client begin under a server begin passes
 * through; ours keeps server and client factories apart and passes through only when the ctx
 * carries this very begin's factory (our nsmgr's and forwarder's inner clients have no begin).
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
  /** The current connection for this id (the last one any Request or event returned). */
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
  /** client: the connection last returned to a caller of begin (events do not change it) */
  returnedConn: Connection | undefined;
  storedCtx: Ctx | undefined;
  budgetMs = Infinity;
  next: NetworkServiceServer | undefined;

  constructor(
    readonly id: string,
    readonly owner: Begin,
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
          // expected while the old path is gone; the caller (heal) logs why the re-request fails
          ctx.log.debug({ connId: this.id, err: messageOf(e) }, "begin: close before reselect failed");
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
    private readonly claim?: BeginOptions["claim"],
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
    if (this.mine(ctx)) return next.request(req, ctx);
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
      if (factory.established && this.side === "client") req = mergeRequest(req, factory);
      if (factory.established && this.side === "server" && this.claim) {
        const who = this.claim(req, factory.storedConn!);
        if (who.owner === "other") {
          // name the id the client chose (the previous hop's segment), not our own
          const path = req.connection?.path;
          const theirs = (path && path.pathSegments[path.index - 1]?.id) || id;
          throw new NsmError(
            status.PERMISSION_DENIED,
            `connection id ${theirs} belongs to another client (${who.detail}); each client needs its own NSM_NAME`,
          );
        }
        if (who.owner === "gone") {
          // the owner is gone: this is a new client that reuses the id, not a refresh
          c.log.info({ connId: id, detail: who.detail }, "begin: the connection's owner is gone; starting afresh");
          try {
            await next.close(clone(ConnectionSchema, factory.storedConn!), c);
          } catch (e) {
            c.log.warn({ connId: id, err: messageOf(e) }, "begin: close of the abandoned connection failed");
          }
          factory.established = false;
        }
      }
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
        // only the client's merge reads it: a server keeps one copy (a clone of a connection
        // with four path segments and tokens is ~20 µs, paid per hop per Request)
        if (this.side === "client") factory.returnedConn = clone(ConnectionSchema, conn);
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

  /** True if `ctx` comes from one of this begin's own calls or events (re-entrancy). */
  private mine(ctx: Ctx): boolean {
    const f = ctx.get(this.side === "server" ? SERVER_EVENTS : CLIENT_EVENTS);
    return f instanceof Factory && f.owner === this;
  }

  async close(conn: Connection, ctx: Ctx, next: NetworkServiceServer): Promise<void> {
    if (this.mine(ctx)) return next.close(conn, ctx);
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

/**
 * Client merge, three ways as upstream's mergeConnection: `returned` is what the caller last got
 * from begin, `requested` what it asks now, `current` what the connection is now (heal, refresh
 * and monitor updates change it without the caller seeing). The base is `current`; only what the
 * caller deliberately changed relative to `returned` is applied: the endpoint name, and the
 * context (ip, ethernet, dns, MTU replaced; extra_context merged key by key). Labels stay as
 * current. So a caller re-requesting with the connection it was given does not pin an endpoint
 * heal moved away from, and does not bring back a stale context.
 */
export function mergeConnection(returned: Connection, requested: Connection, current: Connection): Connection {
  const conn = clone(ConnectionSchema, current);
  if (returned.networkServiceEndpointName !== requested.networkServiceEndpointName) {
    conn.networkServiceEndpointName = requested.networkServiceEndpointName;
  }
  conn.context = mergeContext(returned.context, requested.context, current.context);
  // the caller's reselect asks for a new path (our addition: upstream's callers reselect through events only)
  if (requested.state === State.RESELECT_REQUESTED) conn.state = requested.state;
  return conn;
}

type ConnCtx = NonNullable<Connection["context"]>;
function mergeContext(returned?: ConnCtx, requested?: ConnCtx, current?: ConnCtx): ConnCtx | undefined {
  if (!current) return requested && clone(ConnectionContextSchema, requested);
  const rv = clone(ConnectionContextSchema, current);
  const empty = create(ConnectionContextSchema);
  if (!equals(ConnectionContextSchema, returned ?? empty, requested ?? empty)) {
    rv.ipContext = requested?.ipContext;
    rv.ethernetContext = requested?.ethernetContext;
    rv.dnsContext = requested?.dnsContext;
    rv.MTU = requested?.MTU ?? 0;
    rv.extraContext = mergeMap(returned?.extraContext ?? {}, requested?.extraContext ?? {}, current.extraContext);
  }
  return rv;
}

/** Applies to `current` only the keys the caller changed or removed relative to `returned`. */
function mergeMap(
  returned: Readonly<Record<string, string>>,
  requested: Readonly<Record<string, string>>,
  current: Readonly<Record<string, string>>,
): Record<string, string> {
  const rv = { ...current };
  for (const [k, v] of Object.entries(returned)) {
    if (!(k in requested)) delete rv[k];
    else if (requested[k] !== v) rv[k] = requested[k]!;
  }
  return rv;
}

function mergeRequest(req: NetworkServiceRequest, f: Factory): NetworkServiceRequest {
  const asked = req.connection!;
  const conn =
    f.returnedConn && f.storedConn
      ? mergeConnection(f.returnedConn, asked, f.storedConn)
      : clone(ConnectionSchema, asked);
  return create(NetworkServiceRequestSchema, { connection: conn, mechanismPreferences: req.mechanismPreferences });
}

/** Who sends a Request for an established id, compared with who made the stored connection. */
export interface Claim {
  /** same: a refresh; other: someone else (refused); gone: the owner no longer exists (closed, then served as new) */
  owner: "same" | "other" | "gone";
  /** for the log and the error, e.g. "netns 4026532801, stored 4026532907" */
  detail?: string;
}

export interface BeginOptions {
  /** lifetime of the component: events after it ends are dropped (default: never ends) */
  signal?: AbortSignal;
  /** server: checks that a Request for an established id comes from the connection's owner (default: always the same) */
  claim?: (req: NetworkServiceRequest, stored: Connection) => Claim;
}

export function beginServer(o: BeginOptions = {}): ServerElement & { readonly size: number } {
  const b = new Begin("server", o.signal ?? new AbortController().signal, o.claim);
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
