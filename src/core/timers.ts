/**
 * Cancellable one-shot timers bound to a component's lifetime, for per-connection timers
 * (timeout, refresh, registration expiry). The lifetime gets one abort listener for the whole
 * set: hanging a listener or an AbortController on it per connection costs O(live connections)
 * per add/remove in Node's EventTarget.
 *
 *   const timers = new Timers(lifetime);
 *   const h = timers.after(5_000, () => events.close({ signal: h }));
 *   h.cancel();            // h.aborted is now true; a queued event given `signal: h` is dropped
 */

/** A scheduled callback; `aborted` once cancelled (directly or by the lifetime's end). */
export interface TimerHandle {
  readonly aborted: boolean;
  cancel(): void;
  /** schedules the callback again `ms` from now (e.g. a retry); no-op once cancelled */
  restart(ms: number): void;
}

class Handle implements TimerHandle {
  cancelled = false;
  private t: NodeJS.Timeout | undefined;
  constructor(
    private readonly set: Timers,
    private readonly fn: (h: TimerHandle) => void,
    private readonly unref: boolean,
  ) {}

  get aborted(): boolean {
    return this.cancelled || (this.set.lifetime?.aborted ?? false);
  }

  restart(ms: number): void {
    if (this.aborted) return;
    if (this.t) clearTimeout(this.t);
    this.set.live.add(this);
    this.t = setTimeout(
      () => {
        this.t = undefined;
        this.set.live.delete(this);
        this.fn(this);
      },
      Math.max(0, ms),
    );
    if (this.unref) this.t.unref();
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    if (this.t) {
      clearTimeout(this.t);
      this.t = undefined;
    }
    this.set.live.delete(this);
  }
}

export class Timers {
  /** @internal handles with a pending timer */
  readonly live = new Set<Handle>();
  /** @internal */
  readonly lifetime: AbortSignal | undefined;

  constructor(
    lifetime?: AbortSignal,
    private readonly o: { unref?: boolean } = {},
  ) {
    this.lifetime = lifetime;
    lifetime?.addEventListener(
      "abort",
      () => {
        for (const h of [...this.live]) h.cancel();
      },
      { once: true },
    );
  }

  /** Runs `fn` after `ms` unless cancelled first; once the lifetime has ended, returns a cancelled handle. */
  after(ms: number, fn: (h: TimerHandle) => void): TimerHandle {
    const h = new Handle(this, fn, this.o.unref ?? false);
    if (this.lifetime?.aborted) {
      h.cancelled = true;
      return h;
    }
    h.restart(ms);
    return h;
  }

  /** timers currently pending */
  get size(): number {
    return this.live.size;
  }
}
