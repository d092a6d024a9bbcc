/**
 * `nsm supervise`: the supervisor of the mesh `nsm up` started (src/mesh/supervisor.ts). `nsm up`
 * starts it detached; it restarts any of the mesh's processes that dies (with back-off) and
 * records the new pid in the state file; it exits on SIGTERM (`nsm down` stops it first) or when
 * the state file is gone.
 */
import { superviseMesh } from "../mesh/supervisor.js";
import { stopSignal } from "../networkservice/cmdutil.js";
import { envReader } from "../tools/env.js";
import { newLogger } from "../tools/log.js";
import { rotateSvidDir } from "../tools/spiffe/index.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const ENV_HELP = `nsm supervise — restart the processes of a mesh when they die (nsm up starts it)

  NSM_UP_STATE    /run/nsm-ts/mesh.json   the mesh's state file
  NSM_UP_SVID_DIR (unset)                 SVID files to re-issue at half their lifetime (nsm up with NSM_UP_TLS)
  NSM_LOG_LEVEL   INFO                    log level`;

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const e = envReader(process.env);
  const stateFile = e.string("NSM_UP_STATE", "/run/nsm-ts/mesh.json");
  const log = newLogger({ component: "supervisor", level: e.string("NSM_LOG_LEVEL", "INFO") });
  const ac = new AbortController();
  void stopSignal(ac.signal).then((sig) => {
    if (sig !== "abort") log.info({ signal: sig }, "stopping");
    ac.abort();
  });
  // nsm up with NSM_UP_TLS: re-issue the mesh's SVID files at half their lifetime
  const svidDir = e.optional("NSM_UP_SVID_DIR");
  let rotation: NodeJS.Timeout | undefined;
  if (svidDir) {
    const rotate = () => {
      try {
        const ttl = rotateSvidDir(svidDir);
        log.info({ dir: svidDir }, "SVIDs re-issued");
        rotation = setTimeout(rotate, ttl / 2);
      } catch (err) {
        log.error({ dir: svidDir, err: (err as Error).message }, "cannot re-issue the SVIDs; retrying in 10 s");
        rotation = setTimeout(rotate, 10_000);
      }
    };
    const m = JSON.parse(readFileSync(join(svidDir, "meta.json"), "utf8")) as { ttlMs: number };
    rotation = setTimeout(rotate, m.ttlMs / 2);
  }
  log.info({ stateFile, pid: process.pid }, "Startup completed");
  await superviseMesh(stateFile, { signal: ac.signal, log });
  clearTimeout(rotation);
  ac.abort();
  return 0;
}
