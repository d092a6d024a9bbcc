/**
 * retry (client, both registries): Register/Unregister are tried again every `intervalMs`
 * (200 ms) with a per-try timeout (15 s) until they succeed, fail with a non-transient code
 * (InvalidArgument, PermissionDenied, ...), or the caller's ctx ends. Find is retried while it
 * fails before its first response: a plain Find for at most `findBudgetMs` (5 s, and never into
 * the caller's last second), then it fails with the last error, which names the registry. A watch
 * Find whose stream breaks after it delivered something fails too (UNAVAILABLE), and is not
 * re-opened here: what changed while it was down (entries deleted, a registry that restarted
 * empty) never comes as an event, so the caller must list again: a watch cache re-lists and
 * reconciles, a heal watch re-registers. Re-opening silently left every cache downstream (a
 * forwarder watching through its nsmgr) older than its watch.
 * upstream: sdk pkg/registry/common/retry (+ heal's Find wrapper).
 */
import { type Ctx, messageOf, NsmError, type RegistryElement, status } from "../../../core/index.js";
import { type Kind, sleep } from "../../tools.js";

export interface RetryOptions {
  tryTimeoutMs?: number;
  intervalMs?: number;
  /** how long a plain (non-watch) Find keeps retrying before it fails with the last error (default 5 s) */
  findBudgetMs?: number;
}

const FINAL = new Set<status>([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.ALREADY_EXISTS,
  status.PERMISSION_DENIED,
  status.UNAUTHENTICATED,
  status.FAILED_PRECONDITION,
  status.OUT_OF_RANGE,
  status.UNIMPLEMENTED,
]);

export function isTransient(err: unknown): boolean {
  return !(err instanceof NsmError && FINAL.has(err.code));
}

export function retryClient<T, Q, R>(kind: Kind<T, Q, R>, o: RetryOptions = {}): RegistryElement<T, Q, R> {
  const tryMs = o.tryTimeoutMs ?? 15_000;
  const interval = o.intervalMs ?? 200;
  async function again<X>(what: string, name: string, ctx: Ctx, fn: (c: Ctx) => Promise<X>): Promise<X> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(ctx.withTimeout(tryMs));
      } catch (err) {
        if (ctx.signal.aborted || !isTransient(err)) throw err;
        if (attempt === 0 || attempt % 25 === 0)
          ctx.log.warn({ name, attempt, err: messageOf(err) }, `registry client: ${what} failed, retrying`);
        await sleep(interval, ctx.signal);
        if (ctx.signal.aborted) throw NsmError.from(err, ctx.signal);
      }
    }
  }
  return {
    register: (e, ctx, next) => again("register", kind.nameOf(e), ctx, (c) => next.register(kind.clone(e), c)),
    unregister: (e, ctx, next) => again("unregister", kind.nameOf(e), ctx, (c) => next.unregister(kind.clone(e), c)),
    async *find(q, ctx, next) {
      const { watch } = kind.query(q);
      let lastErr: unknown;
      const giveUpAt = Date.now() + (o.findBudgetMs ?? 5000);
      for (let attempt = 0; ; attempt++) {
        let got = false;
        try {
          for await (const r of next.find(q, ctx)) {
            got = true;
            yield r;
          }
          if (!watch || ctx.signal.aborted) return;
          if (got) throw new NsmError(status.UNAVAILABLE, "registry watch stream ended; list again");
        } catch (err) {
          if (ctx.signal.aborted) return;
          if (!isTransient(err) || got) throw err;
          lastErr = err;
          if (attempt === 0 || attempt % 25 === 0)
            ctx.log.warn({ attempt, err: messageOf(err) }, "registry client: find failed, retrying");
        }
        // a plain Find gives up while its caller can still hear why (the registry is unreachable),
        // rather than retrying into the caller's deadline and ending as a bare cancellation
        const late = Date.now() + interval > giveUpAt || Date.now() + interval + 1000 > ctx.deadline;
        if (!watch && lastErr && late)
          throw new NsmError(status.UNAVAILABLE, `registry find failed ${attempt + 1} time(s): ${messageOf(lastErr)}`, {
            cause: lastErr,
          });
        await sleep(interval, ctx.signal);
        if (ctx.signal.aborted) return;
      }
    },
  };
}
