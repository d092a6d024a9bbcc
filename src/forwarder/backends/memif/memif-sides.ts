/**
 * MEMIF sides of a memif-backend cross connect. Toward the NSC we are the memif **server**
 * (master) on an abstract socket inside the NSC's netns and answer with its `socketfile`, as
 * upstream forwarder-vpp does; toward the NSE we are a memif **client** (slave) of the NSE's
 * socket, and a Request waits for that link to come up.
 */
import { memif, payload as payloads, type Mechanism } from "../../../api/index.js";
import type { Ctx } from "../../../core/index.js";
import { MemifPort } from "../../../datapath/memif.js";
import type { CrossConnect } from "../../backend.js";
import { netnsPathOf, openNetnsUrl } from "../shared/netnsurl.js";
import type { MemifEnv, MemifSide } from "./types.js";

/** The frame kind both ports carry: IP payload has no L2 header. */
export const payloadOf = (x: CrossConnect): "ethernet" | "ip" =>
  (x.outgoing.payload || x.incoming.payload) === payloads.IP ? "ip" : "ethernet";
const portName = (id: string) => `nsm-${id.slice(0, 26)}`;

/** Opens `url`'s netns for as long as `f` runs (native opens its own fd from the path). */
async function inNetnsOf<T>(url: string, what: string, f: (path: string) => Promise<T> | T): Promise<T> {
  const ns = openNetnsUrl(url, what);
  try {
    return await f(ns.procPath);
  } finally {
    ns.close();
  }
}

/** The NSC-facing port: a memif server in the NSC's netns; sets the mechanism's `socketfile`. */
export async function memifClientSide(env: MemifEnv, x: CrossConnect, m: Mechanism): Promise<MemifSide> {
  const url = memif.inodeUrlOf(m);
  if (!url) throw new Error("client side: the MEMIF mechanism has no inodeURL (the NSC's netns)");
  const socket = `@${env.socketDir}/${x.id}/memif.socket`;
  const port = await inNetnsOf(url, "client side", (netns) =>
    MemifPort.open({
      role: "server",
      socket,
      netns,
      payload: payloadOf(x),
      name: "nsm-ts forwarder",
      ifName: portName(x.id),
      ...env.memif,
    }),
  );
  memif.setSocketFile(m, socket);
  return { mechanism: "MEMIF", iface: `MEMIF/${socket}`, port };
}

/** The NSE-facing port: a memif client of the NSE's socket (abstract in its netns, or a file); waits for link up. */
export async function memifEndpointSide(env: MemifEnv, x: CrossConnect, m: Mechanism, ctx: Ctx): Promise<MemifSide> {
  const file = memif.socketFileOf(m),
    url = memif.inodeUrlOf(m);
  const common = {
    role: "client" as const,
    payload: payloadOf(x),
    name: "nsm-ts forwarder",
    ifName: portName(x.id),
    reconnectMs: 100,
    ...env.memif,
  };
  let port: MemifPort;
  let socket: string;
  if (file) {
    socket = file;
    port = url
      ? await inNetnsOf(url, "endpoint side", (netns) => MemifPort.open({ ...common, socket, netns }))
      : MemifPort.open({ ...common, socket });
  } else {
    const path = url && netnsPathOf(url);
    if (!path)
      throw new Error(
        `endpoint side: the MEMIF mechanism has neither socketfile nor a file:// inodeURL (got ${JSON.stringify(url ?? "")})`,
      );
    socket = path;
    port = MemifPort.open({ ...common, socket });
  }
  try {
    const ms = Math.max(1, Math.min(env.linkUpTimeoutMs, ctx.deadline - Date.now() - 50));
    await port.waitUp({ timeoutMs: ms, signal: ctx.signal });
  } catch (e) {
    port.close();
    throw new Error(
      `endpoint side: memif link to ${socket}${url ? ` in ${url}` : ""} not up: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  return { mechanism: "MEMIF", iface: `MEMIF/${socket}`, port };
}
