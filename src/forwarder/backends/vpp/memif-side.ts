/**
 * A MEMIF side facing the NSC through VPP (sdk-vpp `mechanisms/memif`, server side): VPP's memif
 * master listening on the abstract socket `@<tmpdir>/memif/<connection id>/memif.socket` inside
 * the NSC's netns (VPP's socket string `abstract:<name>,netns_name=<netns path>`), IP mode for IP
 * payload, ETHERNET mode otherwise. The NSC's memif (slave) connects to it.
 */
import { tmpdir } from "node:os";
import { memif, payload, type Mechanism } from "../../../api/index.js";
import type { CrossConnect } from "../../backend.js";
import { netnsPathOf } from "../shared/netnsurl.js";
import type { VppEnv, VppSide } from "./types.js";

export async function memifClientSide(
  env: VppEnv,
  x: CrossConnect,
  m: Mechanism,
  undo: (() => Promise<unknown>)[],
): Promise<VppSide> {
  const { vpp } = env;
  const url = memif.inodeUrlOf(m);
  const netns = url && netnsPathOf(url);
  if (!netns)
    throw new Error(`client side: the MEMIF mechanism has no file inodeURL (got ${JSON.stringify(url ?? "")})`);
  const name = `${tmpdir()}/memif/${x.id}/memif.socket`;
  const { socket_id } = await vpp.request("memif_socket_filename_add_del_v2", {
    is_add: true,
    socket_filename: `abstract:${name},netns_name=${netns}`,
  });
  undo.push(() => vpp.request("memif_socket_filename_add_del_v2", { is_add: false, socket_id }));
  const { sw_if_index } = await vpp.request("memif_create_v2", {
    role: 0,
    mode: x.incoming.payload === payload.ETHERNET ? 0 : 1,
    socket_id,
  });
  undo.push(() => vpp.request("memif_delete", { sw_if_index }));
  await vpp.request("sw_interface_tag_add_del", { is_add: true, sw_if_index, tag: x.id });
  memif.setSocketFile(m, `@${name}`);
  const [d] = await vpp.dump("sw_interface_dump", { sw_if_index });
  return {
    kind: "memif",
    swIfIndex: sw_if_index,
    iface: `${(d?.interface_dev_type ?? "memif").toUpperCase()}/${d?.interface_name ?? sw_if_index}`,
    neighbours: [],
    memifSocketId: socket_id,
  };
}
