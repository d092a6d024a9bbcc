/**
 * A KERNEL side of a memif-backend cross connect: a veth pair whose workload end is born in the
 * workload's netns (named by the mechanism, with its side's addresses and routes) and whose other
 * end, in our netns, the native loop reads and writes through an AF_PACKET socket.
 */
import { createHash } from "node:crypto";
import { kernel, type Mechanism } from "../../../api/index.js";
import type { Ctx } from "../../../core/index.js";
import type { DatapathError } from "../../../datapath/errors.js";
import { PacketPort } from "../../../datapath/memif.js";
import type { Netns } from "../../../datapath/netns.js";
import type { CrossConnect } from "../../backend.js";
import { openNetnsUrl } from "../shared/netnsurl.js";
import { addSideOps, aliasOf, ifnameOf } from "../shared/plumbing.js";
import { isGone } from "../shared/stale.js";
import type { MemifEnv, MemifSide } from "./types.js";

/** our veth end: `mf<12 hex>` (14 bytes), stable per connection and side */
const vethName = (id: string, side: "c" | "e"): string =>
  `mf${createHash("sha256").update(`${side}/${id}`).digest("hex").slice(0, 12)}`;

/** Polls (netlink has no wait) until `name` in `ns` is operationally up, within the request's deadline. */
async function waitOperUp(ns: Netns, name: string, ctx: Ctx): Promise<void> {
  const until = Math.min(ctx.deadline, Date.now() + 5000);
  for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
    const l = await ns.linkByName(name);
    if (l.attrs.operState === "up") return;
    if (Date.now() + delay > until || ctx.signal.aborted)
      throw new Error(`${name} in ${ns.name} is not up (operstate ${l.attrs.operState})`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** veth pair: the workload's end in its netns (named by the mechanism), ours in `env.node`, bound with AF_PACKET. */
export async function kernelSide(
  env: MemifEnv,
  x: CrossConnect,
  m: Mechanism,
  side: "client" | "endpoint",
  ctx: Ctx,
): Promise<MemifSide> {
  const { node, log } = env;
  const what = `${side} side`;
  const ifname = ifnameOf(m, what);
  const ours = vethName(x.id, side === "client" ? "c" : "e");
  const ns = openNetnsUrl(kernel.netnsUrlOf(m), what);
  try {
    const mtu = x.outgoing.context?.MTU || undefined;
    const create = async () => {
      // one native call in the workload's netns: the pair (our end born in our netns), addresses, routes
      const b = ns.batch().linkAdd({
        kind: "veth",
        attrs: { name: ifname, mtu, up: true, alias: aliasOf(x.id) },
        peer: { name: ours, netns: node, mtu, up: true },
      });
      await addSideOps(b, x, side === "client" ? "src" : "dst", ifname).commit({ signal: ctx.signal });
    };
    try {
      await create();
    } catch (e) {
      if ((e as DatapathError).code !== "EEXIST") throw e;
      // a stale pair of ours (same alias prefix as the kernel backend's) is replaced; anything else is not touched
      const stale = await ns.linkByName(ifname).catch(() => undefined);
      const mine = await node.linkByName(ours).catch(() => undefined);
      if (stale && !stale.attrs.alias?.startsWith("nsm:"))
        throw new Error(`${what}: interface ${ifname} already exists in ${ns.name} and is not ours`, { cause: e });
      const del = (n: Netns, name: string) =>
        n.linkDel(name).catch((err: unknown) => {
          if (!isGone(err)) throw err;
        });
      if (stale) await del(ns, ifname);
      if (mine) await del(node, ours);
      log.info({ connId: x.id, ifname, netns: ns.name }, "memif datapath: replaced a stale veth");
      await create();
    }
    // a new veth drops what it is sent until linkwatch activates its qdisc (operstate UP):
    // wait for both ends, as upstream waits for af_packet interfaces to be up
    await waitOperUp(ns, ifname, ctx);
    await waitOperUp(node, ours, ctx);
  } catch (e) {
    await node.linkDel(ours).catch(() => undefined);
    throw e;
  } finally {
    ns.close();
  }
  try {
    const port = PacketPort.afPacket(ours, env.nodePath ? { netns: env.nodePath } : {});
    return { mechanism: "KERNEL", iface: `AF_PACKET/${ours}`, port, veth: ours };
  } catch (e) {
    await node.linkDel(ours).catch(() => undefined);
    throw e;
  }
}

/** Closes a side's port and deletes our veth end (the workload's end goes with it). */
export async function closeSide(env: MemifEnv, s: MemifSide): Promise<void> {
  s.port.close();
  if (s.veth)
    await env.node.linkDel(s.veth).catch((e: unknown) => {
      if (!isGone(e)) throw e;
    });
}
