/**
 * The bounded life of a component process. Stop signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT) are
 * caught from the moment `lifecycle()` is called, so one that arrives during startup aborts the
 * startup instead of killing the process with its socket files left behind. From the first signal
 * the process has `graceMs` (default 4 s) to close; then, or at a second signal, it exits anyway,
 * removing the unix sockets it bound. Whatever its peers' state, a component is gone within 5 s
 * of SIGTERM.
 *
 *   const lc = lifecycle({ log });
 *   const mgr = await lc.start(createNsmgr({ ...cfg, signal: lc.signal, log }), (m) => m.close());
 *   if (!mgr) return lc.exitCode;                  // stopped during startup
 *   return lc.shutdown(() => mgr.close());         // waits for the signal, then closes (bounded)
 */
import { removeOwnedSockets } from "../core/index.js";
import type { Logger } from "../tools/log.js";

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;

export interface LifecycleOptions {
  log: Logger;
  /** time from the first stop signal to a forced exit (ms, default 4000) */
  graceMs?: number;
  /** how to end the process (tests); default process.exit */
  exit?: (code: number) => void;
  /** where stop signals come from (tests); default process */
  signals?: Pick<NodeJS.EventEmitter, "on" | "removeListener">;
}

export interface Lifecycle {
  /** aborted at the first stop signal: pass it as the component's lifetime */
  readonly signal: AbortSignal;
  /** resolves with the name of the first stop signal */
  readonly stopped: Promise<string>;
  /** 0, or 1 when startup or close failed or had to be cut short */
  readonly exitCode: number;
  /**
   * Awaits a component's startup. If a stop signal comes first, waits (within the grace period)
   * for the startup to settle, closes what it produced with `close`, and resolves undefined.
   */
  start<T>(startup: Promise<T>, close: (t: T) => Promise<unknown>): Promise<T | undefined>;
  /** Waits for the stop signal, runs `close` (bounded by the grace period) and resolves the exit code. */
  shutdown(close: () => Promise<unknown>): Promise<number>;
  /** Stops as a stop signal would, for a reason of the component's own (e.g. idle): `stopped` resolves `why`. */
  stop(why: string): void;
  /** Gives up without a signal (a fatal error): runs `close` within the grace period and resolves 1; the process then exits. */
  fail(close: () => Promise<unknown>): Promise<number>;
  /** stops listening for signals (tests) */
  dispose(): void;
}

export function lifecycle(o: LifecycleOptions): Lifecycle {
  const graceMs = o.graceMs ?? 4000;
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const ac = new AbortController();
  let code = 0;
  let resolveStopped!: (s: string) => void;
  const stopped = new Promise<string>((r) => (resolveStopped = r));
  let hard: NodeJS.Timeout | undefined;
  let closed = false;

  const force = (why: string) => {
    o.log.error(`${why}: exiting now`);
    removeOwnedSockets();
    exit(1);
  };
  const arm = (why: string) => {
    // unref'd: it must not keep a process alive that would exit by itself
    hard = setTimeout(() => {
      // closed, but something (a channel, a child) keeps the loop alive: exit all the same
      if (closed) exit(code);
      else force(`did not stop within ${graceMs} ms of ${why}`);
    }, graceMs);
    hard.unref();
  };
  const onSignal = (sig: string) => {
    if (ac.signal.aborted) return force(`second stop signal (${sig})`);
    o.log.info({ signal: sig }, "stopping");
    ac.abort();
    resolveStopped(sig);
    arm("the stop signal");
  };
  const handlers = Object.fromEntries(SIGNALS.map((s) => [s, () => onSignal(s)])) as Record<string, () => void>;
  const source = o.signals ?? process;
  for (const s of SIGNALS) source.on(s, handlers[s]!);
  // a normal exit or process.exit(): leave no socket file behind
  process.once("exit", removeOwnedSockets);

  const dispose = () => {
    for (const s of SIGNALS) source.removeListener(s, handlers[s]!);
    process.removeListener("exit", removeOwnedSockets);
    if (hard) clearTimeout(hard);
  };

  const settleClose = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e) {
      code = 1;
      o.log.warn({ err: (e as Error).message }, `${what} failed`);
    }
    closed = true;
    if (hard) {
      // what is left open now only delays the exit: give it a moment, not the whole grace period
      clearTimeout(hard);
      hard = setTimeout(() => exit(code), 250);
      hard.unref();
    }
  };

  return {
    signal: ac.signal,
    stopped,
    get exitCode() {
      return code;
    },
    async start<T>(startup: Promise<T>, close: (t: T) => Promise<unknown>): Promise<T | undefined> {
      const first = await Promise.race([
        startup.then(
          (v) => ({ ok: true as const, v }),
          (e: unknown) => ({ ok: false as const, e }),
        ),
        stopped.then(() => undefined),
      ]);
      if (first && !ac.signal.aborted) {
        if (first.ok) return first.v;
        throw first.e;
      }
      o.log.info("stop signal during startup: undoing it");
      await settleClose("startup", async () => {
        const v = await startup.catch(() => undefined as T | undefined);
        if (v !== undefined) await close(v);
      });
      return undefined;
    },
    async shutdown(close) {
      await stopped;
      await settleClose("close", close);
      return code;
    },
    stop(why) {
      if (ac.signal.aborted) return;
      o.log.info({ reason: why }, "stopping");
      ac.abort();
      resolveStopped(why);
      arm(why);
    },
    async fail(close) {
      if (!ac.signal.aborted) {
        ac.abort();
        arm("giving up");
      }
      await settleClose("close", close);
      code = 1;
      return code;
    },
    dispose,
  };
}
