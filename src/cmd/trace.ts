/**
 * `nsm trace <connection id>`: the hops of one connection and each hop's log lines about it.
 * Any segment id of the connection works (the client's, e.g. nsc-0, or a hop's uuid, or a unique
 * prefix). Logs come from `nsm up`'s per-process logs or from --logs DIR (<process name>.log).
 */
import { renderTrace, traceConnection } from "../observe/trace.js";
import { positionals } from "../observe/targets.js";
import { envReader } from "../tools/env.js";
import { resolveTargets } from "./status.js";

export const ENV_HELP = `nsm trace <connection id> [--json] [--lines N] [--nsmgr URL]... [--forwarder URL]... [--logs DIR]

  The connection's path segments (name, id, token expiry, mechanism at each hop) and, per hop,
  the log lines whose connId is one of the connection's ids. Targets as for nsm status.
  --logs DIR       log files <process name>.log (nsm up: its state dir, found without this flag)
  --lines N        last N lines per hop (default 50)
  --json           JSON

  NSM_UP_STATE           /run/nsm-ts/mesh.json                            nsm up's state file
  NSM_CONNECT_TO         unix:///var/lib/networkservicemesh/nsm.io.sock   nsmgr when there is no mesh state
  NSM_REQUEST_TIMEOUT    3s                                               per-call timeout`;

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const [id] = positionals(args, ["nsmgr", "forwarder", "registry", "logs", "lines"]);
  if (!id) {
    console.error(`nsm trace: which connection? \n\n${ENV_HELP}`);
    return 2;
  }
  const t = resolveTargets(args, process.env);
  const linesAt = args.indexOf("--lines");
  const maxLines = linesAt >= 0 ? Number(args[linesAt + 1]) : 50;
  const tr = await traceConnection(t, id, { timeoutMs: envReader(process.env).duration("NSM_REQUEST_TIMEOUT", "3s") });
  console.log(args.includes("--json") ? JSON.stringify(tr, null, 2) : renderTrace(tr, { maxLines }));
  return 0;
}
