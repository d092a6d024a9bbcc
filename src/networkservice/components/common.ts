/** What the components share: their common config, lifetime and tokens, and bounded shutdown steps. */
import { setMaxListeners } from "node:events";
import { getProcessIdentity, messageOf } from "../../core/index.js";
import { nseRegistryClient, nsRegistryClient, type RegistryClientOptions } from "../../registry/chains/client.js";
import { type Logger, silentLogger } from "../../tools/log.js";
import { newTokenGenerator, type TokenGenerator } from "../../tools/token/index.js";
import type { Telemetry } from "../../tools/telemetry/index.js";

export interface Common {
  /** path segment / registration name */
  name: string;
  /** the component's lifetime; `close()` also ends it */
  signal: AbortSignal;
  log?: Logger;
  /** NSM_MAX_TOKEN_LIFETIME (ms, default 10 min); ignored when `tokens` is given */
  maxTokenLifetimeMs?: number;
  tokens?: TokenGenerator;
  /** NSM_DIAL_TIMEOUT */
  dialTimeoutMs?: number;
  /** TELEMETRY / PROMETHEUS (src/tools/telemetry): instruments the chains; the caller closes it */
  telemetry?: Telemetry;
}

export async function basics(o: Common) {
  const life = new AbortController();
  // every live connection hangs a timer's cancel on the lifetime: thousands of listeners are expected
  setMaxListeners(0, life.signal);
  const stop = () => life.abort();
  o.signal.addEventListener("abort", stop, { once: true });
  // with a SPIFFE identity (docs/security.md) tokens are signed with the SVID's key
  const tokens =
    o.tokens ??
    (await newTokenGenerator({ name: o.name, maxLifetimeMs: o.maxTokenLifetimeMs, source: getProcessIdentity() }));
  const log = (o.log ?? silentLogger).child({ name: o.name });
  const unlisten = () => o.signal.removeEventListener("abort", stop);
  return { life, tokens, log, unlisten };
}

/**
 * The registry clients a component opens at its nsmgr (`nsmgrUrl`, NSM_CONNECT_TO): each lives as
 * long as the component and dials and signs as it does.
 *
 *   const reg = registryClients(o, await basics(o));
 *   const nse = reg.nse(); // the caller closes what it opened
 */
export function registryClients(
  o: Common & { nsmgrUrl: string },
  b: { life: AbortController; log: Logger; tokens: TokenGenerator },
) {
  const opts: RegistryClientOptions = {
    url: o.nsmgrUrl,
    signal: b.life.signal,
    log: b.log,
    dialTimeoutMs: o.dialTimeoutMs,
    tokens: () => b.tokens,
  };
  return { ns: () => nsRegistryClient(opts), nse: () => nseRegistryClient(opts) };
}

/**
 * Every shutdown step is bounded (default 1 s): a component must be gone within 5 s of SIGTERM
 * whatever its peers' state. A step that does not finish in time is logged and left behind (e.g.
 * an unregister queued behind a registry heal that retries a dead nsmgr until the lifetime ends).
 */
export const CLOSE_STEP_MS = 1000;
export const closeQuietly = async (what: string, log: Logger, fn: () => unknown, ms = CLOSE_STEP_MS) => {
  let timer: NodeJS.Timeout | undefined;
  try {
    const late = new Promise<"late">((r) => (timer = setTimeout(r, ms, "late")));
    if ((await Promise.race([Promise.resolve().then(fn), late])) === "late")
      log.warn({ afterMs: ms }, `close ${what}: gave up waiting`);
  } catch (e) {
    log.warn({ err: messageOf(e) }, `close ${what} failed`);
  } finally {
    clearTimeout(timer);
  }
};
