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
import type { Ctx } from "../../../core/index.js";
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
 * the master answers; the Request waits for that (`memifLinkUp`).
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

/** The memif messages the backend sends (its `VPP_MESSAGES`). */
export const MEMIF_MESSAGES = [
  "memif_socket_filename_add_del_v2",
  "memif_create_v2",
  "memif_delete",
  "want_interface_events",
] as const;

/** Longest wait for the NSE's memif master to answer when the Request's deadline is further. */
export const MEMIF_UP_CAP_MS = 5000;
const LINK_UP = 2; // if_status_flags IF_STATUS_API_FLAG_LINK_UP

/**
 * Waits until the NSE-facing memif slave `side` (admin up) has its link up, i.e. VPP connected
 * to the NSE's master and the rings are set: a Request then returns with a path that carries
 * its first packet. Listens to VPP's `sw_interface_event`s (`want_interface_events`, sent again
 * after a reconnect), checking the flags once after subscribing so an earlier event is not
 * missed. Bounded by the Request's deadline and `capMs`; past that it throws naming the socket
 * and the NSE (the caller undoes the side).
 */
export async function memifLinkUp(
  env: VppEnv,
  x: CrossConnect,
  side: VppSide,
  ctx: Ctx,
  capMs = MEMIF_UP_CAP_MS,
): Promise<void> {
  const { vpp } = env;
  const started = Date.now();
  const waitMs = Math.max(0, Math.min(ctx.remaining(started), capMs));
  let done!: () => void;
  const upSeen = new Promise<void>((r) => (done = r));
  const off = vpp.on("sw_interface_event", (e) => {
    if (e.sw_if_index === side.swIfIndex && e.flags & LINK_UP && !e.deleted) done();
  });
  const isUp = async () => {
    const [d] = await vpp.dump("sw_interface_dump", { sw_if_index: side.swIfIndex });
    return !!d && (d.flags & LINK_UP) !== 0;
  };
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await vpp.subscribe("want_interface_events", { enable_disable: 1, pid: process.pid });
    if (await isUp()) return;
    const timedOut = await Promise.race([
      upSeen.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), waitMs);
        onAbort = () => r(true);
        ctx.signal.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
    // a last look: an event lost over a VPP reconnect must not fail a link that is up
    if (timedOut && !(await isUp())) {
      const m = x.outgoing.mechanism;
      const nse = x.outgoing.networkServiceEndpointName || "(unnamed)";
      throw new Error(
        `endpoint side: VPP's memif ${side.iface} did not come up within ${waitMs} ms: ` +
          `nothing answered on the NSE ${nse}'s memif socket ${m ? memif.socketFileOf(m) : "?"} ` +
          `(netns ${JSON.stringify((m && memif.inodeUrlOf(m)) ?? "")})`,
      );
    }
    env.log.debug({ connId: x.id, iface: side.iface, ms: Date.now() - started }, "vpp datapath: memif link up");
  } finally {
    off();
    clearTimeout(timer);
    if (onAbort) ctx.signal.removeEventListener("abort", onAbort);
  }
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
