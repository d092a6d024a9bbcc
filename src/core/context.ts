/**
 * The context every chain call carries: lifetime (`signal`, `deadline`), a logger, per-connection
 * metadata (server and client side, set by the metadata elements) and typed values that elements
 * hand to later elements (client URL, candidates, the dialled connection, incoming tokens...).
 *
 * A Ctx is immutable; `with()`/`withValue()` derive a child that shares everything else.
 *
 *   const URL = ctxKey<string>("clienturl");
 *   return next.request(req, ctx.withValue(URL, "unix:///x.sock"));
 */
import { type Logger, silentLogger } from "../tools/log.js";
import { type MetaMap, missingMeta } from "./metadata.js";

export interface CtxKey<T> {
  readonly name: string;
  readonly __type?: T;
}
export function ctxKey<T>(name: string): CtxKey<T> {
  return Object.freeze({ name }) as CtxKey<T>;
}

export interface CtxInit {
  signal?: AbortSignal;
  /** absolute deadline, ms since the epoch; Infinity when none */
  deadline?: number;
  log?: Logger;
}

export class Ctx {
  readonly signal: AbortSignal;
  readonly deadline: number;
  readonly log: Logger;
  /** server-side metadata of this connection (set by metadataServer / beginServer) */
  readonly meta: MetaMap;
  /** client-side metadata of this connection (set by metadataClient / beginClient) */
  readonly clientMeta: MetaMap;
  private readonly values: ReadonlyMap<CtxKey<unknown>, unknown>;

  constructor(
    init: CtxInit = {},
    meta: MetaMap = missingMeta("server"),
    clientMeta: MetaMap = missingMeta("client"),
    values: ReadonlyMap<CtxKey<unknown>, unknown> = new Map(),
  ) {
    this.signal = init.signal ?? new AbortController().signal;
    this.deadline = init.deadline ?? Infinity;
    this.log = init.log ?? silentLogger;
    this.meta = meta;
    this.clientMeta = clientMeta;
    this.values = values;
  }

  /** Milliseconds left until the deadline (Infinity when none). */
  remaining(now = Date.now()): number {
    return this.deadline - now;
  }

  get<T>(k: CtxKey<T>): T | undefined {
    return this.values.get(k) as T | undefined;
  }

  withValue<T>(k: CtxKey<T>, v: T | undefined): Ctx {
    const values = new Map(this.values);
    if (v === undefined) values.delete(k);
    else values.set(k, v);
    return new Ctx(this, this.meta, this.clientMeta, values);
  }

  with(patch: { signal?: AbortSignal; deadline?: number; log?: Logger; meta?: MetaMap; clientMeta?: MetaMap }): Ctx {
    return new Ctx(
      { signal: patch.signal ?? this.signal, deadline: patch.deadline ?? this.deadline, log: patch.log ?? this.log },
      patch.meta ?? this.meta,
      patch.clientMeta ?? this.clientMeta,
      this.values,
    );
  }

  /** A child whose signal also ends after `ms` (or at the parent's deadline, whichever is first). */
  withTimeout(ms: number): Ctx {
    const deadline = Math.min(this.deadline, Date.now() + ms);
    const signal = AbortSignal.any([this.signal, AbortSignal.timeout(Math.max(0, deadline - Date.now()))]);
    return this.with({ signal, deadline });
  }

  /** Throws the signal's reason if the context is over. */
  throwIfAborted(): void {
    this.signal.throwIfAborted();
  }
}

/** A new root context: `timeoutMs` bounds it (default: no deadline). */
export function newCtx(o: CtxInit & { timeoutMs?: number } = {}): Ctx {
  const base = new Ctx(o);
  return o.timeoutMs === undefined ? base : base.withTimeout(o.timeoutMs);
}

/**
 * A context with the values of `ctx` but a fresh lifetime and the same deadline budget, for work
 * that outlives the call that started it (upstream's "postpone" context: timers, heal, refresh).
 */
export function detach(ctx: Ctx, signal: AbortSignal, budgetMs?: number): Ctx {
  const budget = budgetMs ?? (Number.isFinite(ctx.deadline) ? Math.max(0, ctx.deadline - Date.now()) : Infinity);
  const deadline = Date.now() + budget;
  const s = Number.isFinite(budget) ? AbortSignal.any([signal, AbortSignal.timeout(budget)]) : signal;
  return ctx.with({ signal: s, deadline });
}
