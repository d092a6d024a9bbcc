/**
 * `nsm status`: the mesh as the registry and the nsmgrs see it — nodes, forwarders, NSEs,
 * services, and every connection with its path, mechanisms, addresses and interface counters.
 * Reads `nsm up`'s state file when there is one, else the URLs given (src/observe).
 */
import { readMeshState } from "../mesh/index.js";
import { renderStatus, snapshot, watchMesh } from "../observe/status.js";
import { flagValues, targetsFromArgs, targetsFromState, type Targets } from "../observe/targets.js";
import { stopSignal } from "../networkservice/cmdutil.js";
import { envReader, type Env } from "../tools/env.js";

export const ENV_HELP = `nsm status [--watch] [--json] [--nsmgr URL]... [--forwarder URL]... [--registry URL]

  Without --nsmgr: the mesh of the NSM_UP_STATE file if it exists, else NSM_CONNECT_TO.
  --nsmgr [name=]URL     an nsmgr to ask (MonitorConnection; its registry proxy); repeat or comma-separate
  --forwarder [name=]URL also ask this forwarder's MonitorConnection (per-hop mechanisms)
  --registry URL         Find in this registry instead of through the first nsmgr
  --watch                keep the monitor streams open and print again on every change
  --json                 JSON (with --watch: one JSON document per line)

  NSM_UP_STATE           /run/nsm-ts/mesh.json                            nsm up's state file
  NSM_CONNECT_TO         unix:///var/lib/networkservicemesh/nsm.io.sock   nsmgr when there is no mesh state
  NSM_REGISTRY_URL       (through the nsmgr)                              registry
  NSM_REQUEST_TIMEOUT    3s                                               per-call timeout`;

/** the targets: explicit flags win, then nsm up's state file, then NSM_* variables */
export function resolveTargets(args: readonly string[], env: Env): Targets {
  if (flagValues(args, "nsmgr").length) return targetsFromArgs(args, env);
  const state = readMeshState(envReader(env).string("NSM_UP_STATE", "/run/nsm-ts/mesh.json"));
  if (state) {
    const t = targetsFromState(state);
    const extra = targetsFromArgs(args, env);
    return { ...t, forwarders: [...t.forwarders, ...extra.forwarders], registry: extra.registry };
  }
  return targetsFromArgs(args, env);
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const t = resolveTargets(args, process.env);
  const timeoutMs = envReader(process.env).duration("NSM_REQUEST_TIMEOUT", "3s");
  const json = args.includes("--json");
  if (!args.includes("--watch")) {
    const s = await snapshot(t, { timeoutMs });
    console.log(json ? JSON.stringify(s, null, 2) : renderStatus(s));
    return s.nodes.length && s.nodes.every((n) => n.error) ? 1 : 0;
  }
  const ac = new AbortController();
  void stopSignal(ac.signal).then(() => ac.abort());
  const tty = process.stdout.isTTY;
  await watchMesh(
    t,
    ac.signal,
    (s) => {
      if (json) process.stdout.write(`${JSON.stringify(s)}\n`);
      else process.stdout.write(`${tty ? "\x1b[H\x1b[2J" : "\n"}${renderStatus(s)}\n`);
    },
    { timeoutMs },
  );
  return 0;
}
