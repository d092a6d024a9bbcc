/**
 * MEMIF sides through VPP (sdk-vpp `mechanisms/memif`).
 *
 * A MEMIF side facing the NSC through VPP (sdk-vpp `mechanisms/memif`, server side): VPP's memif
 * master listening on the abstract socket `@<tmpdir>/memif/<connection id>/memif.socket` inside
 * the NSC's netns (VPP's socket string `abstract:<name>,netns_name=<netns path>`), IP mode for IP
 * payload, ETHERNET mode otherwise. The NSC's memif (slave) connects to it.
 */
import { tmpdir } from "node:os";
import { memif, payload, type Mechanism } from "../../../api/index.js";
import type { CrossConnect } from "../../backend.js";
import { findByInode, inodeKeyOf, netnsPathOf } from "../shared/netnsurl.js";
import type { VppEnv, VppSide } from "./types.js";

/** Upstream's abstract socket name for a connection, without the leading `@`. */
export const memifSocketName = (connId: string): string => `${tmpdir()}/memif/${connId}/memif.socket`;

export async function memifClientSide(
  env: VppEnv,
  x: CrossConnect,
  m: Mechanism,
  undo: (() => Promise<unknown>)[],
): Promise<VppSide> {
  const url = memif.inodeUrlOf(m);
  const netns = url && netnsPathOf(url);
  if (!netns)
    throw new Error(`client side: the MEMIF mechanism has no file inodeURL (got ${JSON.stringify(url ?? "")})`);
  const name = memifSocketName(x.id);
  const side = await createMemif(env, x, `abstract:${name},netns_name=${netns}`, MASTER, undo);
  memif.setSocketFile(m, `@${name}`);
  return side;
}

/**
 * A MEMIF side facing the NSE (sdk-vpp `mechanisms/memif`, client side): the NSE's memif app
 * listens as master where its answer says — `socketfile` `@<name>` = the abstract socket `<name>`
 * inside the netns of `inodeURL`, or a filesystem path — and VPP's memif connects to it as slave
 * (IP mode for IP payload, ETHERNET mode otherwise). VPP retries the connection on its own until
 * the master answers.
 */
export async function memifEndpointSide(
  env: VppEnv,
  x: CrossConnect,
  m: Mechanism,
  undo: (() => Promise<unknown>)[],
): Promise<VppSide> {
  const file = memif.socketFileOf(m);
  if (!file) throw new Error("endpoint side: the NSE's MEMIF mechanism has no socketfile");
  let filename = file;
  if (file.startsWith("@")) {
    const url = memif.inodeUrlOf(m) ?? "";
    const key = inodeKeyOf(url);
    const netns = netnsPathOf(url) ?? (key ? findByInode(key) : undefined);
    if (!netns)
      throw new Error(
        `endpoint side: the NSE's MEMIF mechanism names the abstract socket ${file} but no netns (inodeURL ${JSON.stringify(url)})`,
      );
    filename = `abstract:${file.slice(1)},netns_name=${netns}`;
  }
  return createMemif(env, x, filename, SLAVE, undo);
}

const MASTER = 0,
  SLAVE = 1;

/**
 * VPP's memif socket `socketFilename` and a memif interface on it in `role` (IP mode for IP
 * payload, ETHERNET mode otherwise), tagged with the connection id; both undone by `undo`.
 */
async function createMemif(
  env: VppEnv,
  x: CrossConnect,
  socketFilename: string,
  role: typeof MASTER | typeof SLAVE,
  undo: (() => Promise<unknown>)[],
): Promise<VppSide> {
  const { vpp } = env;
  const { socket_id } = await vpp.request("memif_socket_filename_add_del_v2", {
    is_add: true,
    socket_filename: socketFilename,
  });
  undo.push(() => vpp.request("memif_socket_filename_add_del_v2", { is_add: false, socket_id }));
  const { sw_if_index } = await vpp.request("memif_create_v2", {
    role,
    mode: x.incoming.payload === payload.ETHERNET ? 0 : 1,
    socket_id,
  });
  undo.push(() => vpp.request("memif_delete", { sw_if_index }));
  await vpp.request("sw_interface_tag_add_del", { is_add: true, sw_if_index, tag: x.id });
  return described(env, sw_if_index, socket_id);
}

async function described(env: VppEnv, sw_if_index: number, socket_id: number): Promise<VppSide> {
  const [d] = await env.vpp.dump("sw_interface_dump", { sw_if_index });
  return {
    kind: "memif",
    swIfIndex: sw_if_index,
    iface: `${(d?.interface_dev_type ?? "memif").toUpperCase()}/${d?.interface_name ?? sw_if_index}`,
    neighbours: [],
    memifSocketId: socket_id,
  };
}
