/**
 * Structured logging on stderr (pino). Every component logger carries `component`; every
 * Request's logger carries `connId`, so one grep follows a connection. On a terminal a line is
 * for humans (time, level name, connection id first, message, the other fields as key=value);
 * otherwise, or with NSM_LOG_FORMAT=json, one JSON object per line.
 *
 *   const log = newLogger({ component: "nsmgr", level: env.logLevel });
 *   log.child({ connId }).info({ ns: "icmp" }, "request");
 *   // text: 13:04:05.123 INFO  [nsc-0] nsmgr: request ns=icmp
 */
import { writeSync } from "node:fs";
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

export const LOG_FORMATS = ["json", "text"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** NSM_LOG_FORMAT, else text on a terminal and JSON otherwise. */
export function logFormat(value: string | undefined, tty: boolean): LogFormat {
  const v = value?.trim().toLowerCase();
  if (!v) return tty ? "text" : "json";
  if (!(LOG_FORMATS as readonly string[]).includes(v)) throw new Error(`log format "${value}" is not json or text`);
  return v as LogFormat;
}

const LEVEL_NAMES: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};
const HIDDEN = new Set(["level", "time", "msg", "component", "connId", "pid", "hostname"]);

const show = (v: unknown): string => {
  if (typeof v === "string") return /[\s="]/.test(v) || v === "" ? JSON.stringify(v) : v;
  return JSON.stringify(v) ?? String(v);
};

/** One pino JSON record as a line for humans: `13:04:05.123 WARN  [nsc-0] nsc: message key=value ...`. */
export function formatText(rec: Record<string, unknown>): string {
  const time = typeof rec.time === "string" ? (rec.time.split("T")[1]?.replace(/Z$/, "") ?? rec.time) : "";
  const level = (LEVEL_NAMES[rec.level as number] ?? String(rec.level)).padEnd(5);
  const conn = rec.connId !== undefined ? `[${String(rec.connId)}] ` : "";
  const comp = rec.component !== undefined ? `${String(rec.component)}: ` : "";
  const rest = Object.entries(rec)
    .filter(([k, v]) => !HIDDEN.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${show(v)}`)
    .join(" ");
  return `${time} ${level} ${conn}${comp}${String(rec.msg ?? "").replace(/\n/g, "\\n")}${rest ? ` ${rest}` : ""}`;
}

/** A pino destination that turns each JSON record into a text line, written synchronously. */
function textDestination(out: { write(s: string): unknown }) {
  return {
    write(line: string) {
      for (const l of line.split("\n")) {
        if (!l) continue;
        try {
          out.write(`${formatText(JSON.parse(l) as Record<string, unknown>)}\n`);
        } catch {
          out.write(`${l}\n`);
        }
      }
      return true;
    },
  };
}

export interface LoggerOptions {
  component: string;
  level?: string;
  /** json or text (default NSM_LOG_FORMAT, else text on a terminal, JSON otherwise) */
  format?: string;
  /** write here instead of stderr (tests) */ destination?: NodeJS.WritableStream;
}

export function newLogger(o: LoggerOptions): Logger {
  const level = normalizeLevel(o.level ?? process.env.NSM_LOG_LEVEL);
  const format = logFormat(
    o.format ?? process.env.NSM_LOG_FORMAT,
    o.destination ? false : process.stderr.isTTY === true,
  );
  const base = { level, base: { component: o.component }, timestamp: pino.stdTimeFunctions.isoTime };
  if (format === "text") return pino(base, textDestination(o.destination ?? { write: (s: string) => writeSync(2, s) }));
  return pino(base, o.destination ?? pino.destination({ fd: 2, sync: true }));
}

/** A logger that drops everything: the default for in-process components and tests. */
export const silentLogger: Logger = pino({ level: "silent" });
