/**
 * Structured logging: one JSON object per line on stderr (pino). Every component logger carries
 * `component`; every Request's logger carries `connId`, so one grep follows a connection.
 *
 *   const log = newLogger({ component: "nsmgr", level: env.logLevel });
 *   log.child({ connId }).info({ ns: "icmp" }, "request");
 */
import { pino, type Logger as PinoLogger, type LevelWithSilent } from "pino";

export type Logger = PinoLogger;

/** Upstream levels are logrus names (`INFO`, `TRACE`, `WARN`...); pino takes lower case. */
export function normalizeLevel(level: string | undefined): LevelWithSilent {
  const l = (level ?? "info").trim().toLowerCase();
  switch (l) {
    case "trace":
    case "debug":
    case "info":
    case "error":
    case "fatal":
    case "silent":
      return l;
    case "warn":
    case "warning":
      return "warn";
    case "panic":
      return "fatal";
    default:
      throw new Error(`log level "${level}" is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL, PANIC`);
  }
}

export interface LoggerOptions {
  component: string;
  level?: string;
  /** write here instead of stderr (tests) */ destination?: NodeJS.WritableStream;
}

export function newLogger(o: LoggerOptions): Logger {
  const level = normalizeLevel(o.level ?? process.env.NSM_LOG_LEVEL);
  const dest = o.destination ?? pino.destination({ fd: 2, sync: true });
  return pino({ level, base: { component: o.component }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

/** A logger that drops everything: the default for in-process components and tests. */
export const silentLogger: Logger = pino({ level: "silent" });
