/**
 * The memif datapath backend (NSM_DATAPATH=memif): cross connects where a side is MEMIF, joined
 * by the addon's native forwarding loop (no JavaScript per packet). Every side is a port:
 *
 * | side | mechanism | port |
 * |---|---|---|
 * | client (NSC) | MEMIF | a memif **server** (master) on the abstract socket `@<tmp>/memif/<conn id>/memif.socket` inside the NSC's netns (`inodeURL`); `socketfile` goes back to the NSC, whose memif client connects to it (upstream forwarder-vpp, datapath.md §2.2) |
 * | endpoint (NSE) | MEMIF | a memif **client** (slave) to the NSE's `socketfile` in the NSE's netns (`inodeURL`), or to the socket file `inodeURL` names (filesystem mode); Request waits for link up |
 * | either | KERNEL | a veth pair: the workload's end born in its netns with the mechanism's name and the IPContext's addresses/routes, our end in the forwarder's netns bound with AF_PACKET |
 *
 * `joinPorts(client port, endpoint port)` then forwards both ways. Cross connects without a
 * MEMIF side go to `fallback` (the kernel backend: a direct veth, tunnels); without a fallback we
 * plumb KERNEL↔KERNEL with two veths and the loop, and refuse remote mechanisms.
 *
 *   const backend = memifBackend({ fallback: await kernelBackend({ ... }), netns: "/run/netns/node-1" });
 *   await createForwarder({ ..., backend });
 *
 * Per-port counters go into our path segment's metrics (`server_*` = NSC-facing, `client_*` =
 * endpoint-facing, rx = what the workload sent us). Root only (netns, AF_PACKET).
 */
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import {
  cls,
  kernel,
  mechType,
  memif,
  newMechanism,
  payload as payloads,
  type Connection,
  type Mechanism,
} from "../../../api/index.js";
import type { Ctx } from "../../../core/index.js";
import type { CrossConnect, DatapathBackend } from "../../backend.js";
import { type Logger, silentLogger } from "../../../tools/log.js";
import type { DatapathError } from "../../../datapath/errors.js";
import {
  joinPorts,
  MemifPort,
  PacketPort,
  type PortJoin as Loop,
  type MemifForwardStats,
  type MemifOptions,
  type MemifPortStats,
} from "../../../datapath/memif.js";
import { Netns } from "../../../datapath/netns.js";
import { isGone } from "../shared/stale.js";
import { plumbingOf } from "../shared/ipcontext.js";
import { netnsPathOf, openNetnsUrl } from "../shared/netnsurl.js";

export interface MemifBackendOptions {
  /** netns where our veth ends live (a path, e.g. /run/netns/node-1); default: this process's */
  netns?: string;
  /** mechanisms offered to a local endpoint when the client side is MEMIF, best first (default [KERNEL, MEMIF]: every NSE speaks KERNEL, only some run a memif app) */
  endpointMechanisms?: readonly string[];
  /** backend for cross connects without a MEMIF side (normally the kernel backend) */
  fallback?: DatapathBackend;
  /** directory part of our abstract socket names (default `<os.tmpdir()>/memif`, as upstream) */
  socketDir?: string;
  /** the loop spins instead of sleeping on eventfds (one core per connection; default false) */
  busyPoll?: boolean;
  /** how long a Request waits for the endpoint-side memif link (default 5000 ms, bounded by the deadline) */
  linkUpTimeoutMs?: number;
  /** ring/buffer sizes and mode of our memif ports */
  memif?: Pick<MemifOptions, "ringSize" | "bufferSize" | "mode">;
  log?: Logger;
}

/** One side of a plumbed cross connect. */
export interface MemifSide {
  readonly mechanism: "MEMIF" | "KERNEL";
  /** upstream-style `<TYPE>/<name>`: `MEMIF/<socket>` or `AF_PACKET/<our veth end>` */
  readonly iface: string;
  readonly port: MemifPort | PacketPort;
  /** KERNEL: our veth end (in the backend's netns) */
  readonly veth?: string;
}

/** What the backend keeps per connection. */
export interface MemifPlumbed {
  readonly id: string;
  readonly fp: string;
  readonly client: MemifSide;
  readonly endpoint: MemifSide;
  readonly loop: Loop;
}

export interface MemifBackend extends DatapathBackend {
  /** live cross connects plumbed by this backend (not the fallback's) */
  readonly connections: ReadonlyMap<string, MemifPlumbed>;
  /** counters of one connection's ports and loop */
  stats(id: string): { client: MemifPortStats; endpoint: MemifPortStats; loop: MemifForwardStats } | undefined;
}

const ALIAS = (id: string): string => `nsm:${id}`;
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

const LOCAL = new Set<string>([mechType.KERNEL, mechType.MEMIF]);

export function memifBackend(o: MemifBackendOptions = {}): MemifBackend {
  const log = (o.log ?? silentLogger).child({ datapath: "memif" });
  const fb = o.fallback;
  const node = o.netns ? Netns.open(o.netns) : Netns.current();
  // AF_PACKET sockets are opened through our handle (valid while the backend is open)
  const nodePath = o.netns ? node.procPath : undefined;
  const socketDir = o.socketDir ?? `${tmpdir()}/memif`;
  const endpointMechs = o.endpointMechanisms ?? [mechType.KERNEL, mechType.MEMIF];
  const live = new Map<string, MemifPlumbed>();
  /** cross connects handed to the fallback, by id (to remove them there when they change shape) */
  const delegated = new Map<string, CrossConnect>();

  const ours = (x: CrossConnect): boolean => {
    const a = x.incoming.mechanism?.type ?? "",
      b = x.outgoing.mechanism?.type ?? "";
    if (a === mechType.MEMIF || b === mechType.MEMIF) return true;
    return !fb && LOCAL.has(a) && LOCAL.has(b);
  };

  const ipFp = (x: CrossConnect) => {
    const ip = x.outgoing.context?.ipContext;
    return [
      ip?.srcIpAddrs,
      ip?.dstIpAddrs,
      ip?.srcRoutes?.map((r) => [r.prefix, r.nextHop]),
      ip?.dstRoutes?.map((r) => [r.prefix, r.nextHop]),
      x.outgoing.context?.MTU ?? 0,
    ];
  };
  /** what a side asks for; the client-side `socketfile` is ours to set, so it is not part of it */
  const sideFp = (m: Mechanism, side: "client" | "endpoint") => {
    if (m.type === mechType.KERNEL) return [m.type, kernel.netnsUrlOf(m) ?? "", kernel.ifnameOf(m) ?? ""];
    return [m.type, memif.inodeUrlOf(m) ?? "", side === "endpoint" ? (memif.socketFileOf(m) ?? "") : ""];
  };
  const fpOf = (x: CrossConnect) =>
    JSON.stringify([
      sideFp(x.incoming.mechanism!, "client"),
      sideFp(x.outgoing.mechanism!, "endpoint"),
      x.outgoing.payload,
      ipFp(x),
    ]);

  // ---- sides ---------------------------------------------------------------------------------

  const payloadOf = (x: CrossConnect): "ethernet" | "ip" =>
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

  async function memifClientSide(x: CrossConnect, m: Mechanism): Promise<MemifSide> {
    const url = memif.inodeUrlOf(m);
    if (!url) throw new Error("client side: the MEMIF mechanism has no inodeURL (the NSC's netns)");
    const socket = `@${socketDir}/${x.id}/memif.socket`;
    const port = await inNetnsOf(url, "client side", (netns) =>
      MemifPort.open({
        role: "server",
        socket,
        netns,
        payload: payloadOf(x),
        name: "nsm-ts forwarder",
        ifName: portName(x.id),
        ...o.memif,
      }),
    );
    memif.setSocketFile(m, socket);
    return { mechanism: "MEMIF", iface: `MEMIF/${socket}`, port };
  }

  async function memifEndpointSide(x: CrossConnect, m: Mechanism, ctx: Ctx): Promise<MemifSide> {
    const file = memif.socketFileOf(m),
      url = memif.inodeUrlOf(m);
    const common = {
      role: "client" as const,
      payload: payloadOf(x),
      name: "nsm-ts forwarder",
      ifName: portName(x.id),
      reconnectMs: 100,
      ...o.memif,
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
      const ms = Math.max(1, Math.min(o.linkUpTimeoutMs ?? 5000, ctx.deadline - Date.now() - 50));
      await port.waitUp({ timeoutMs: ms, signal: ctx.signal });
    } catch (e) {
      port.close();
      throw new Error(
        `endpoint side: memif link to ${socket}${url ? ` in ${url}` : ""} not up: ${(e as Error).message}`,
        { cause: e },
      );
    }
    return { mechanism: "MEMIF", iface: `MEMIF/${socket}`, port };
  }

  /** veth pair: the workload's end in its netns (named by the mechanism), ours in `node`, bound with AF_PACKET. */
  async function kernelSide(x: CrossConnect, m: Mechanism, side: "client" | "endpoint", ctx: Ctx): Promise<MemifSide> {
    const what = `${side} side`;
    const ifname = kernel.ifnameOf(m);
    if (!ifname) throw new Error(`${what}: the KERNEL mechanism has no interface name (parameter "name")`);
    const ours = vethName(x.id, side === "client" ? "c" : "e");
    const ns = openNetnsUrl(kernel.netnsUrlOf(m), what);
    try {
      const mtu = x.outgoing.context?.MTU || undefined;
      const p = plumbingOf(x.outgoing.context?.ipContext, side === "client" ? "src" : "dst", ifname);
      const create = async () => {
        // one native call in the workload's netns: the pair (our end born in our netns), addresses, routes
        const b = ns.batch().linkAdd({
          kind: "veth",
          attrs: { name: ifname, mtu, up: true, alias: ALIAS(x.id) },
          peer: { name: ours, netns: node, mtu, up: true },
        });
        for (const a of p.addrs) b.addrReplace(a);
        for (const r of p.routes) b.routeReplace(r);
        await b.commit({ signal: ctx.signal });
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
        if (stale)
          await ns.linkDel(ifname).catch((err: unknown) => {
            if (!isGone(err)) throw err;
          });
        if (mine)
          await node.linkDel(ours).catch((err: unknown) => {
            if (!isGone(err)) throw err;
          });
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
      const port = PacketPort.afPacket(ours, nodePath ? { netns: nodePath } : {});
      return { mechanism: "KERNEL", iface: `AF_PACKET/${ours}`, port, veth: ours };
    } catch (e) {
      await node.linkDel(ours).catch(() => undefined);
      throw e;
    }
  }

  async function closeSide(s: MemifSide): Promise<void> {
    s.port.close();
    if (s.veth)
      await node.linkDel(s.veth).catch((e: unknown) => {
        if (!isGone(e)) throw e;
      });
  }

  async function teardown(r: MemifPlumbed): Promise<void> {
    const errors: string[] = [];
    r.loop.stop();
    for (const s of [r.client, r.endpoint]) {
      try {
        await closeSide(s);
      } catch (e) {
        errors.push(`${s.iface}: ${(e as Error).message}`);
      }
    }
    if (errors.length) throw new Error(`memif datapath: removing connection ${r.id}: ${errors.join("; ")}`);
  }

  async function plumb(x: CrossConnect, fp: string, ctx: Ctx): Promise<MemifPlumbed> {
    const inM = x.incoming.mechanism!,
      outM = x.outgoing.mechanism!;
    for (const [m, side] of [
      [inM, "client"],
      [outM, "endpoint"],
    ] as const) {
      if (!LOCAL.has(m.type))
        throw new Error(
          `memif datapath cannot plumb a ${m.type} ${side} side (with ${side === "client" ? outM.type : inM.type} on the other)`,
        );
    }
    if (
      payloadOf(x) === "ip" &&
      (inM.type === mechType.KERNEL || outM.type === mechType.KERNEL) &&
      inM.type !== outM.type
    ) {
      throw new Error(
        `memif datapath: IP payload between MEMIF and KERNEL needs L2 header add/strip, which the native loop does not do (use ETHERNET payload)`,
      );
    }
    const client =
      inM.type === mechType.MEMIF ? await memifClientSide(x, inM) : await kernelSide(x, inM, "client", ctx);
    let endpoint: MemifSide | undefined;
    try {
      endpoint =
        outM.type === mechType.MEMIF
          ? await memifEndpointSide(x, outM, ctx)
          : await kernelSide(x, outM, "endpoint", ctx);
      const loop = joinPorts(client.port, endpoint.port, { busyPoll: o.busyPoll ?? false });
      return { id: x.id, fp, client, endpoint, loop };
    } catch (e) {
      await closeSide(client).catch(() => undefined);
      if (endpoint) await closeSide(endpoint).catch(() => undefined);
      throw e;
    }
  }

  const portStats = (s: MemifSide): MemifPortStats | undefined => {
    try {
      return s.port.stats();
    } catch {
      return undefined;
    }
  };

  return {
    name: "memif",
    connections: live,
    mechanisms: {
      local: [...new Set([...(fb?.mechanisms.local ?? []), mechType.KERNEL, mechType.MEMIF])],
      remote: [...(fb?.mechanisms.remote ?? [])],
    },

    outgoingPreferences(incoming: Connection, opt: { remote: boolean }) {
      if (opt.remote) return fb?.outgoingPreferences(incoming, opt) ?? [];
      if (incoming.mechanism?.type === mechType.MEMIF) return endpointMechs.map((t) => newMechanism(cls.LOCAL, t));
      const base = fb?.outgoingPreferences(incoming, opt) ?? [newMechanism(cls.LOCAL, mechType.KERNEL)];
      return base.some((m) => m.type === mechType.MEMIF) ? base : [...base, newMechanism(cls.LOCAL, mechType.MEMIF)];
    },

    async apply(x: CrossConnect, ctx: Ctx) {
      if (!ours(x)) {
        const prev = live.get(x.id);
        if (prev) {
          live.delete(x.id);
          await teardown(prev).catch((e: unknown) =>
            log.warn({ connId: x.id, err: (e as Error).message }, "memif datapath: removing the previous ports failed"),
          );
        }
        if (!fb)
          throw new Error(
            `memif datapath cannot cross-connect ${x.incoming.mechanism?.type} to ${x.outgoing.mechanism?.type} (no fallback backend)`,
          );
        await fb.apply(x, ctx);
        delegated.set(x.id, x);
        return;
      }
      const was = delegated.get(x.id);
      if (was && fb) {
        delegated.delete(x.id);
        await fb
          .remove(was, ctx)
          .catch((e: unknown) =>
            log.warn({ connId: x.id, err: (e as Error).message }, "memif datapath: fallback remove failed"),
          );
      }
      const fp = fpOf(x);
      const prev = live.get(x.id);
      if (prev && prev.fp === fp) {
        // refresh: the NSC gets the same socket back
        if (prev.client.mechanism === "MEMIF")
          memif.setSocketFile(x.incoming.mechanism!, prev.client.iface.slice("MEMIF/".length));
        return;
      }
      if (prev) {
        live.delete(x.id);
        log.debug({ connId: x.id }, "memif datapath: connection changed, replacing its ports");
        await teardown(prev).catch((e: unknown) =>
          log.warn({ connId: x.id, err: (e as Error).message }, "memif datapath: removing the previous ports failed"),
        );
      }
      const r = await plumb(x, fp, ctx);
      live.set(x.id, r);
      log.debug({ connId: x.id, client: r.client.iface, endpoint: r.endpoint.iface }, "memif datapath: plumbed");
    },

    async remove(x: CrossConnect, ctx: Ctx) {
      const was = delegated.get(x.id);
      delegated.delete(x.id);
      if (was && fb) await fb.remove(x, ctx);
      const r = live.get(x.id);
      live.delete(x.id);
      if (r) await teardown(r);
    },

    async metrics(x: CrossConnect) {
      if (delegated.has(x.id)) return fb?.metrics?.(x);
      const r = live.get(x.id);
      if (!r) return undefined;
      const out: Record<string, string> = {};
      for (const [s, side] of [
        [r.client, "server"],
        [r.endpoint, "client"],
      ] as const) {
        const st = portStats(s);
        out[`${side}_interface`] = s.iface;
        if (!st) continue;
        out[`${side}_rx_bytes`] = String(st.rxBytes);
        out[`${side}_tx_bytes`] = String(st.txBytes);
        out[`${side}_rx_packets`] = String(st.rxPackets);
        out[`${side}_tx_packets`] = String(st.txPackets);
        out[`${side}_drops`] = String(st.txDrops + st.rxErrors + st.txErrors);
      }
      return out;
    },

    stats(id: string) {
      const r = live.get(id);
      if (!r) return undefined;
      const c = portStats(r.client),
        e = portStats(r.endpoint);
      return c && e ? { client: c, endpoint: e, loop: r.loop.stats() } : undefined;
    },

    async close() {
      const errors: string[] = [];
      for (const [id, r] of [...live]) {
        live.delete(id);
        try {
          await teardown(r);
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
      delegated.clear();
      try {
        await fb?.close();
      } catch (e) {
        errors.push(`fallback: ${(e as Error).message}`);
      }
      node.close();
      if (errors.length) throw new Error(`memif datapath: close: ${errors.join("; ")}`);
    },
  };
}
