/**
 * `nsm down`: stops the mesh `nsm up` started — its supervisor first (so nothing is restarted
 * meanwhile), then its processes as the supervisor last recorded them (clients first, so they close
 * their connections), wireguard-go left by forwarders, every namespace (and the links in them),
 * the sockets and the state — from the state file. Nothing to stop is not an error.
 */
import { destroyMesh, readMeshState } from "../mesh/index.js";
import { readConfig } from "./up.js";
import { spireDirOf, stopUpSpire } from "./up-spire.js";

export const ENV_HELP = `nsm down — stop the mesh \`nsm up\` started

  NSM_UP_STATE   /run/nsm-ts/mesh.json   the state file nsm up wrote`;

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const state = readMeshState(cfg.stateFile);
  // nsm up with NSM_UP_SPIRE: its SPIRE server + agent, after the mesh's processes
  const stopSpire = () => {
    if (stopUpSpire(spireDirOf(cfg.stateFile, cfg.id))) console.log("nsm down: stopped SPIRE (server + agent)");
  };
  if (!state) {
    stopSpire();
    console.log(`nsm down: no mesh is up (no ${cfg.stateFile})`);
    return 0;
  }
  // every domain's namespaces (nsm up with NSM_UP_DOMAINS), read before they are removed
  const netns = [
    ...state.netns,
    ...(state.linked?.states ?? []).flatMap((f) => readMeshState(f)?.netns ?? []),
    ...(state.linked?.netns ?? []),
  ];
  const r = await destroyMesh(state);
  const gone = r.gone.length ? ` (already gone: ${r.gone.join(", ")})` : "";
  console.log(
    `nsm down: stopped ${r.stopped.length} process(es)${gone}, removed ${netns.length} namespace(s) (${netns.join(", ")}) and ${state.linked?.dir ?? state.dir}`,
  );
  stopSpire();
  if (r.interfaces.length)
    console.log(`nsm down: removed interfaces of ours a client's Close had left: ${r.interfaces.join(", ")}`);
  return 0;
}
