/** Shared bits of the control-plane commands: common NSM_* settings, waiting for a stop signal. */
import { statSync } from "node:fs";
import { ConfigError, type EnvReader } from "../tools/env.js";
import { logFormat, normalizeLevel } from "../tools/log.js";
import { SECURITY_HELP } from "./security.js";

export interface CommonConfig {
  name: string;
  logLevel: string;
  maxTokenLifetimeMs: number;
}

/** NSM_LOG_LEVEL (returned) and NSM_LOG_FORMAT, checked: a bad value names its variable. */
export function readLogConfig(e: EnvReader): string {
  const logLevel = e.string("NSM_LOG_LEVEL", "INFO");
  try {
    normalizeLevel(logLevel);
  } catch (err) {
    throw new ConfigError("NSM_LOG_LEVEL", logLevel, (err as Error).message);
  }
  const format = e.optional("NSM_LOG_FORMAT");
  try {
    logFormat(format, false);
  } catch (err) {
    throw new ConfigError("NSM_LOG_FORMAT", format ?? "", (err as Error).message);
  }
  return logLevel;
}

export function readCommon(e: EnvReader, defaultName: string): CommonConfig {
  const logLevel = readLogConfig(e);
  const maxTokenLifetimeMs = e.duration("NSM_MAX_TOKEN_LIFETIME", "10m");
  if (maxTokenLifetimeMs <= 0)
    throw new ConfigError("NSM_MAX_TOKEN_LIFETIME", String(maxTokenLifetimeMs), "must be > 0");
  return { name: e.string("NSM_NAME", defaultName), logLevel, maxTokenLifetimeMs };
}

export const COMMON_HELP = `  NSM_MAX_TOKEN_LIFETIME   10m    lifetime of the tokens this component signs (ES256, with the SVID's key)
  NSM_LOG_LEVEL            INFO   TRACE, DEBUG, INFO, WARN, ERROR, FATAL, PANIC
  NSM_LOG_FORMAT           (tty)  text (for humans; the default on a terminal) | json (the default otherwise)
${SECURITY_HELP}`;

/** Resolves with the first of SIGINT/SIGTERM/SIGHUP/SIGQUIT (or when `signal` aborts). */
export function stopSignal(signal?: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const sigs = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;
    const done = (s: string) => {
      for (const x of sigs) process.removeListener(x, handlers[x]);
      resolve(s);
    };
    const handlers = Object.fromEntries(sigs.map((s) => [s, () => done(s)])) as Record<
      (typeof sigs)[number],
      () => void
    >;
    for (const s of sigs) process.once(s, handlers[s]);
    signal?.addEventListener("abort", () => done("abort"), { once: true });
  });
}

/**
 * Upstream sets NSM_NAME per pod; our workload is a network namespace, so the default name is
 * the namespace's inode: two clients in two namespaces never share a connection id, and a client
 * restarted in its namespace finds (adopts) its connections again.
 */
export function clientDefaultName(): string {
  try {
    return `nsc-${statSync("/proc/self/ns/net").ino}`;
  } catch {
    return `nsc-${process.pid}`;
  }
}
