/**
 * NSM_* environment configuration with upstream's grammar (envconfig): durations in Go syntax
 * (`750ms`, `15s`, `1m30s`), comma-separated lists, `k1:v1,k2:v2` maps, URLs. Every error names
 * the variable and the value:
 *
 *   const e = envReader(process.env);
 *   const cfg = { name: e.string("NSM_NAME", "nmgr"), dialTimeout: e.duration("NSM_DIAL_TIMEOUT", "750ms") };
 */
import { parseUrl, type NsmUrl } from "./url.js";

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly value: string,
    reason: string,
  ) {
    super(`${variable}="${value}": ${reason}`);
  }
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration ("1h2m3.5s", "750ms", "0") into milliseconds. Throws on anything else. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (t === "0") return 0;
  const re = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0,
    pos = 0,
    m: RegExpExecArray | null;
  const neg = t.startsWith("-");
  const body = neg || t.startsWith("+") ? t.slice(1) : t;
  if (!body) throw new Error(`"${text}" is not a duration`);
  while (pos < body.length && ((re.lastIndex = pos), (m = re.exec(body)))) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== body.length) throw new Error(`"${text}" is not a duration (use e.g. 750ms, 15s, 1m30s)`);
  return neg ? -total : total;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export type Env = Readonly<Record<string, string | undefined>>;

export interface EnvReader {
  string(name: string, dflt: string): string;
  optional(name: string): string | undefined;
  duration(name: string, dflt: string): number;
  int(name: string, dflt: number, opts?: { min?: number; max?: number }): number;
  bool(name: string, dflt: boolean): boolean;
  list(name: string, dflt: readonly string[]): string[];
  map(name: string, dflt?: Readonly<Record<string, string>>): Record<string, string>;
  url(name: string, dflt: string): NsmUrl;
  optionalUrl(name: string, dflt?: string): NsmUrl | undefined;
  urls(name: string, dflt: readonly string[]): NsmUrl[];
  oneOf<T extends string>(name: string, allowed: readonly T[], dflt: T): T;
}

/** Reads configuration from `env`; an empty variable counts as unset (as envconfig does). */
export function envReader(env: Env = process.env): EnvReader {
  const raw = (name: string) => {
    const v = env[name];
    return v === undefined || v === "" ? undefined : v;
  };
  const wrap = <T>(name: string, value: string, f: (v: string) => T): T => {
    try {
      return f(value);
    } catch (e) {
      throw new ConfigError(name, value, (e as Error).message);
    }
  };
  const splitList = (v: string) =>
    v
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
  const r: EnvReader = {
    string: (n, d) => raw(n) ?? d,
    optional: (n) => raw(n),
    duration(n, d) {
      const v = raw(n) ?? d;
      return wrap(n, v, (x) => {
        const ms = parseDuration(x);
        if (ms < 0) throw new Error("must not be negative");
        return ms;
      });
    },
    int(n, d, o = {}) {
      const v = raw(n);
      if (v === undefined) return d;
      return wrap(n, v, (x) => {
        if (!/^-?\d+$/.test(x.trim())) throw new Error("is not an integer");
        const i = Number(x);
        if (o.min !== undefined && i < o.min) throw new Error(`must be ≥ ${o.min}`);
        if (o.max !== undefined && i > o.max) throw new Error(`must be ≤ ${o.max}`);
        return i;
      });
    },
    bool(n, d) {
      const v = raw(n);
      if (v === undefined) return d;
      return wrap(n, v, (x) => {
        const l = x.trim().toLowerCase();
        if (["1", "t", "true", "yes", "on"].includes(l)) return true;
        if (["0", "f", "false", "no", "off"].includes(l)) return false;
        throw new Error("is not a boolean (true/false)");
      });
    },
    list: (n, d) => {
      const v = raw(n);
      return v === undefined ? [...d] : splitList(v);
    },
    map(n, d = {}) {
      const v = raw(n);
      if (v === undefined) return { ...d };
      return wrap(n, v, (x) => {
        const out: Record<string, string> = {};
        for (const kv of splitList(x)) {
          const i = kv.indexOf(":");
          if (i <= 0) throw new Error(`entry "${kv}" is not key:value`);
          const value = kv.slice(i + 1).trim();
          if (!value) throw new Error(`entry "${kv}" has no value (key:value)`);
          out[kv.slice(0, i).trim()] = value;
        }
        return out;
      });
    },
    url: (n, d) => {
      const v = raw(n) ?? d;
      return wrap(n, v, parseUrl);
    },
    optionalUrl: (n, d) => {
      const v = raw(n) ?? d;
      return v === undefined || v === "" ? undefined : wrap(n, v, parseUrl);
    },
    urls(n, d) {
      const v = raw(n);
      const items = v === undefined ? [...d] : splitList(v);
      return items.map((u) => wrap(n, v ?? u, () => parseUrl(u)));
    },
    oneOf(n, allowed, d) {
      const v = raw(n) ?? d;
      return wrap(n, v, (x) => {
        if (!(allowed as readonly string[]).includes(x)) throw new Error(`must be one of ${allowed.join(", ")}`);
        return x as (typeof allowed)[number];
      });
    },
  };
  return r;
}
