/**
 * What `nsm status` and `nsm trace` look at: the nsmgrs (MonitorConnection + their registry
 * proxy), optionally forwarders (MonitorConnection), a registry, and per-process log files.
 * Either from `nsm up`'s state file (unix sockets, reachable from any namespace) or from flags
 * and NSM_* variables.
 *
 *   const t = targetsFromState(readMeshState("/run/nsm-ts/mesh.json")!);
 *   const t2 = targetsFromArgs(["--nsmgr", "unix:///var/lib/networkservicemesh/nsm.io.sock"], process.env);
 */
import { existsSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import type { MeshState } from "../mesh/index.js";
import { envReader, type Env } from "../tools/env.js";

export interface Target {
  /** process name, e.g. nsmgr-0 */
  name: string;
  /** where to dial it (unix:// or tcp://) */
  url: string;
  /** the URL it publishes in the registry (forwarders and NSEs registered through it carry it) */
  published?: string;
}

export interface Targets {
  nsmgrs: Target[];
  forwarders: Target[];
  /** a registry to Find in; default: the first nsmgr (it proxies Find to its registry) */
  registry?: string;
  /** process name → its log file (pino JSON lines) */
  logs: Map<string, string>;
  /** where the targets came from, for the header */
  source: string;
}

export function targetsFromState(s: MeshState): Targets {
  const logs = new Map(s.procs.map((p) => [p.name, p.log] as const));
  return {
    nsmgrs: s.nodes.map((n, i) => ({ name: `nsmgr-${i}`, url: `unix://${n.nsmgrSock}`, published: n.nsmgrUrl })),
    forwarders: s.nodes
      .map((_, i) => ({ name: `forwarder-${i}`, url: `unix://${join(s.dir, `forwarder-${i}.sock`)}` }))
      .filter((f) => existsSync(f.url.slice("unix://".length))),
    logs,
    source: `nsm up mesh "${s.id}" (${s.stateFile})`,
  };
}

/** values of `--name v` / `--name=v`, commas splitting lists */
export function flagValues(args: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === `--${name}` && i + 1 < args.length) out.push(args[++i]!);
    else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  }
  return out.flatMap((v) => v.split(",")).filter(Boolean);
}

/** positional arguments (not flags or flag values) */
export function positionals(args: readonly string[], valued: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (valued.some((v) => a === `--${v}`)) i++;
    else if (!a.startsWith("-")) out.push(a);
  }
  return out;
}

/** --nsmgr (or NSM_CONNECT_TO), --forwarder, --registry (or NSM_REGISTRY_URL), --logs DIR (<name>.log files) */
export function targetsFromArgs(args: readonly string[], env: Env): Targets {
  const e = envReader(env);
  const named = (u: string, i: number, kind: string): Target => {
    const m = /^([\w.-]+)=(.+)$/.exec(u);
    return m ? { name: m[1]!, url: m[2]! } : { name: `${kind}-${i}`, url: u };
  };
  const mgrs = flagValues(args, "nsmgr");
  const nsmgrs = (
    mgrs.length ? mgrs : [e.url("NSM_CONNECT_TO", "unix:///var/lib/networkservicemesh/nsm.io.sock").href]
  ).map((u, i) => named(u, i, "nsmgr"));
  const forwarders = flagValues(args, "forwarder").map((u, i) => named(u, i, "forwarder"));
  const logs = new Map<string, string>();
  for (const dir of flagValues(args, "logs")) {
    try {
      for (const f of readdirSync(dir)) if (f.endsWith(".log")) logs.set(basename(f, ".log"), join(dir, f));
    } catch {
      /* no such dir: no logs */
    }
  }
  return {
    nsmgrs,
    forwarders,
    registry: flagValues(args, "registry")[0] ?? e.optional("NSM_REGISTRY_URL"),
    logs,
    source: nsmgrs.map((n) => n.url).join(", "),
  };
}
