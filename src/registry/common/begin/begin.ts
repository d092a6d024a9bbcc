/**
 * begin for registry chains: calls for one name (NSE or NS name) run one at a time, in arrival
 * order. After a successful Register, later elements can re-inject Register (refresh, heal)
 * or Unregister (expiry) into the rest of the chain through `registryEvents(ctx)`.
 * upstream: sdk pkg/registry/common/begin.
 */
import {
  type Ctx,
  ctxKey,
  detach,
  NsmError,
  type RegistryElement,
  type RegistryServer,
  SerialExecutor,
  status,
} from "../../../core/index.js";
import type { Kind } from "../../tools.js";

export interface RegistryEventOptions {
  /** drop the event if this signal has ended by the time it gets its turn */
  signal?: AbortSignal;
  /** time budget of the re-injected call (default: the original call's; Infinity = until the chain's lifetime ends) */
  timeoutMs?: number;
}

/** Re-injects calls for one name into the rest of the chain after begin. */
export interface RegistryEvents<T> {
  readonly name: string;
  /** the entry last returned by Register (undefined once unregistered) */
  readonly entry: T | undefined;
  /** re-runs Register with the stored entry; undefined if no longer registered (or dropped) */
  register(o?: RegistryEventOptions): Promise<T | undefined>;
  /** Unregisters the stored entry and forgets it */
  unregister(o?: RegistryEventOptions): Promise<void>;
}

const KEYS = {
  server: ctxKey<RegistryEvents<unknown>>("registry/begin-server"),
  client: ctxKey<RegistryEvents<unknown>>("registry/begin-client"),
};

/** The event factory that begin put into `ctx` for this call's name. */
export function registryEvents<T>(ctx: Ctx, side: "server" | "client"): RegistryEvents<T> | undefined {
  return ctx.get(KEYS[side]) as RegistryEvents<T> | undefined;
}

class State<T, Q, R> implements RegistryEvents<T> {
  readonly ex = new SerialExecutor();
  entry: T | undefined;
  ctx: Ctx | undefined;
  budgetMs = Infinity;
  next: RegistryServer<T, Q, R> | undefined;
  constructor(
    readonly name: string,
    private readonly b: Begin<T, Q, R>,
  ) {}

  eventCtx(o: RegistryEventOptions): Ctx {
    return detach(this.ctx!, this.b.lifetime, o.timeoutMs ?? this.budgetMs).withValue(
      KEYS[this.b.side],
      this as RegistryEvents<unknown>,
    );
  }
  register(o: RegistryEventOptions = {}): Promise<T | undefined> {
    return this.ex.run(async () => {
      if (o.signal?.aborted || this.b.lifetime.aborted || this.entry === undefined || !this.next) return undefined;
      const res = await this.next.register(this.b.kind.clone(this.entry), this.eventCtx(o));
      if (this.entry !== undefined) this.entry = this.b.kind.forRefresh(res, this.entry);
      return res;
    });
  }
  unregister(o: RegistryEventOptions = {}): Promise<void> {
    return this.b.track(
      this,
      this.ex.run(async () => {
        if (o.signal?.aborted || this.entry === undefined || !this.next) return;
        const e = this.entry;
        this.entry = undefined;
        await this.next.unregister(this.b.kind.clone(e), this.eventCtx(o));
      }),
    );
  }
}

class Begin<T, Q, R> {
  private readonly byName = new Map<string, State<T, Q, R>>();
  constructor(
    readonly side: "server" | "client",
    readonly kind: Kind<T, Q, R>,
    readonly lifetime: AbortSignal,
  ) {}

  /** forgets `s` once its queue is empty and it holds no registration */
  track<X>(s: State<T, Q, R>, p: Promise<X>): Promise<X> {
    const tidy = () => {
      if (s.entry === undefined && s.ex.idle && this.byName.get(s.name) === s) this.byName.delete(s.name);
    };
    void p.then(tidy, tidy);
    return p;
  }
  private state(name: string): State<T, Q, R> {
    let s = this.byName.get(name);
    if (!s) {
      s = new State(name, this);
      this.byName.set(name, s);
    }
    return s;
  }
  get size(): number {
    return this.byName.size;
  }

  register(entry: T, ctx: Ctx, next: RegistryServer<T, Q, R>): Promise<T> {
    const name = this.kind.nameOf(entry);
    if (!name)
      return Promise.reject(new NsmError(status.INVALID_ARGUMENT, `${this.kind.label}.Name can not be zero valued`));
    const s = this.state(name);
    const started = Date.now();
    return this.track(
      s,
      s.ex.run(async () => {
        const asked = this.kind.clone(entry);
        const res = await next.register(entry, ctx.withValue(KEYS[this.side], s as RegistryEvents<unknown>));
        s.entry = this.kind.forRefresh(res, asked);
        s.ctx = ctx;
        s.next = next;
        s.budgetMs = Number.isFinite(ctx.deadline) ? Math.max(1, ctx.deadline - started) : Infinity;
        return res;
      }),
    );
  }

  unregister(entry: T, ctx: Ctx, next: RegistryServer<T, Q, R>): Promise<void> {
    const name = this.kind.nameOf(entry);
    if (!name)
      return Promise.reject(new NsmError(status.INVALID_ARGUMENT, `${this.kind.label}.Name can not be zero valued`));
    const s = this.state(name);
    return this.track(
      s,
      s.ex.run(async () => {
        const stored = s.entry;
        s.entry = undefined;
        // server side: the stored registration wins (upstream); unknown names still go on, so a
        // registry replica that never saw the Register can delete what another one stored
        await next.unregister(
          this.side === "server" && stored !== undefined ? this.kind.clone(stored) : entry,
          ctx.withValue(KEYS[this.side], s as RegistryEvents<unknown>),
        );
      }),
    );
  }
}

export type BeginElement<T, Q, R> = RegistryElement<T, Q, R> & { readonly size: number };

export function registryBegin<T, Q, R>(
  side: "server" | "client",
  kind: Kind<T, Q, R>,
  o: { signal?: AbortSignal } = {},
): BeginElement<T, Q, R> {
  const b = new Begin<T, Q, R>(side, kind, o.signal ?? new AbortController().signal);
  return {
    register: (e, c, n) => b.register(e, c, n),
    unregister: (e, c, n) => b.unregister(e, c, n),
    get size() {
      return b.size;
    },
  };
}
