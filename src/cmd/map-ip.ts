/**
 * `nsm map-ip` (cmd-map-ip-k8s without Kubernetes): writes the internal→external IP map an
 * nsmgr-proxy reads (NSM_OUTPUT_PATH, upstream's flat YAML `internal: external`), from
 *   - NSM_FROM_FILE: a map file in the same format, copied pair by pair, and/or
 *   - NSM_MESH_STATE: the state file of a mesh `nsm up` started: each node address maps to
 *     NSM_EXTERNAL_IP when set, else to itself (upstream: InternalIP → ExternalIP or itself),
 *     and NSM_EXTERNAL_IP to itself.
 * Inputs are watched; the output is rewritten whole (atomically) after every change. Later
 * sources win: mesh nodes, then NSM_FROM_FILE.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { isIP } from "node:net";
import { readLogConfig } from "../networkservice/cmdutil.js";
import { ConfigError, envReader, type Env } from "../tools/env.js";
import { type Logger, newLogger } from "../tools/log.js";
import { formatMapIp, parseMapIp } from "../tools/mapip.js";
import { pollFileText } from "../tools/textpoll.js";
import { lifecycle } from "./lifecycle.js";

export const ENV_HELP = `nsm map-ip — writes the internal→external IP map for nsmgr-proxy (no Kubernetes)

  NSM_OUTPUT_PATH          external_ips.yaml   the map file written (flat YAML internal: external)
  NSM_FROM_FILE            (none)              a map file to copy (same format); watched
  NSM_MESH_STATE           (none)              an \`nsm up\` state file (mesh.json): node addresses; watched
  NSM_EXTERNAL_IP          (none)              the external address of the mesh's nodes (default: each its own)
  NSM_LOG_LEVEL            INFO                TRACE, DEBUG, INFO, WARN, ERROR, FATAL, PANIC
  NSM_LOG_FORMAT           (tty)               text | json
At least one of NSM_FROM_FILE and NSM_MESH_STATE.`;

export interface MapIpConfig {
  outputPath: string;
  fromFile?: string;
  meshState?: string;
  externalIp?: string;
  logLevel: string;
}

export function readConfig(env: Env = process.env): MapIpConfig {
  const e = envReader(env);
  const externalIp = e.optional("NSM_EXTERNAL_IP");
  if (externalIp && isIP(externalIp) === 0)
    throw new ConfigError("NSM_EXTERNAL_IP", externalIp, "is not an IP address");
  const cfg = {
    outputPath: e.string("NSM_OUTPUT_PATH", "external_ips.yaml"),
    fromFile: e.optional("NSM_FROM_FILE"),
    meshState: e.optional("NSM_MESH_STATE"),
    externalIp,
    logLevel: readLogConfig(e),
  };
  if (!cfg.fromFile && !cfg.meshState)
    throw new ConfigError("NSM_FROM_FILE", "", "set NSM_FROM_FILE or NSM_MESH_STATE");
  return cfg;
}

/** The map from the current inputs; an input that cannot be read or parsed throws naming it. */
export function buildMap(cfg: MapIpConfig): Map<string, string> {
  const out = new Map<string, string>();
  if (cfg.meshState) {
    const st = JSON.parse(readFileSync(cfg.meshState, "utf8")) as {
      nodes?: { ip: string }[];
      domains?: { nodes: { ip: string }[] }[];
    };
    const nodes = [...(st.nodes ?? []), ...(st.domains ?? []).flatMap((d) => d.nodes)];
    for (const n of nodes) out.set(n.ip, cfg.externalIp ?? n.ip);
    if (cfg.externalIp) out.set(cfg.externalIp, cfg.externalIp);
  }
  if (cfg.fromFile) {
    let text: string;
    try {
      text = readFileSync(cfg.fromFile, "utf8");
    } catch (e) {
      throw new Error(`NSM_FROM_FILE ${cfg.fromFile}: ${(e as Error).message}`, { cause: e });
    }
    for (const [k, v] of parseMapIp(text)) out.set(k, v);
  }
  return out;
}

/** Writes the map now and after every change of the inputs; returns the stopper. */
export function startMapIp(cfg: MapIpConfig, log: Logger): { stop(): void; written: Promise<void> } {
  let last = "";
  let resolveFirst!: () => void;
  const written = new Promise<void>((r) => (resolveFirst = r));
  const write = () => {
    let text: string;
    try {
      text = formatMapIp(buildMap(cfg));
    } catch (e) {
      log.warn({ err: (e as Error).message }, "map-ip: inputs unreadable; keeping the last map");
      return;
    }
    if (text === last) return;
    mkdirSync(dirname(cfg.outputPath), { recursive: true });
    const tmp = `${cfg.outputPath}.tmp-${process.pid}`;
    writeFileSync(tmp, text);
    renameSync(tmp, cfg.outputPath);
    last = text;
    log.info({ path: cfg.outputPath, entries: text.split("\n").length - 1 }, "map-ip: map written");
    resolveFirst();
  };
  const inputs = [cfg.fromFile, cfg.meshState].filter((x): x is string => !!x);
  // each input's first read happens here; a failed one is logged by write()
  const polls = inputs.map((p) => pollFileText(p, { everyMs: 500, persistent: true }, write));
  write();
  return {
    written,
    stop() {
      for (const p of polls) p.stop();
    },
  };
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const log = newLogger({ component: "map-ip", level: cfg.logLevel });
  log.info(cfg, "configuration");
  const lc = lifecycle({ log });
  const m = startMapIp(cfg, log);
  log.info({ path: cfg.outputPath }, "Startup completed");
  return lc.shutdown(async () => m.stop());
}
