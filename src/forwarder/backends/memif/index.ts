/**
 * The memif datapath backend (NSM_DATAPATH=memif): cross connects where a side is MEMIF, joined
 * by the addon's native forwarding loop (no JavaScript per packet). Every side is a port:
 *
 * | side | mechanism | port | unit |
 * |---|---|---|---|
 * | client (NSC) | MEMIF | a memif **server** (master) on the abstract socket `@<tmp>/memif/<conn id>/memif.socket` inside the NSC's netns (`inodeURL`); `socketfile` goes back to the NSC, whose memif client connects to it (as upstream forwarder-vpp) | memif-sides.ts |
 * | endpoint (NSE) | MEMIF | a memif **client** (slave) to the NSE's `socketfile` in the NSE's netns (`inodeURL`), or to the socket file `inodeURL` names (filesystem mode); Request waits for link up | memif-sides.ts |
 * | either | KERNEL | a veth pair: the workload's end born in its netns with the mechanism's name and the IPContext's addresses/routes, our end in the forwarder's netns bound with AF_PACKET | kernel-side.ts |
 *
 * `joinPorts(client port, endpoint port)` then forwards both ways. Cross connects without a
 * MEMIF side go to `fallback` (the kernel backend: a direct veth, tunnels); without a fallback we
 * plumb KERNEL↔KERNEL with two veths and the loop, and refuse remote mechanisms (plan.ts).
 *
 *   const backend = memifBackend({ fallback: await kernelBackend({ ... }), netns: "/run/netns/node-1" });
 *   await createForwarder({ ..., backend });
 *
 * Per-port counters go into our path segment's metrics (`server_*` = NSC-facing, `client_*` =
 * endpoint-facing, rx = what the workload sent us). Root only (netns, AF_PACKET).
 */
import { tmpdir } from "node:os";
import { cls, mechType, memif, newMechanism } from "../../../api/index.js";
import type { Ctx } from "../../../core/index.js";
import { joinPorts, type MemifForwardStats, type MemifPortStats } from "../../../datapath/memif.js";
import { Netns } from "../../../datapath/netns.js";
import { silentLogger } from "../../../tools/log.js";
import type { CrossConnect, DatapathBackend } from "../../backend.js";
import { closeSide, kernelSide } from "./kernel-side.js";
import { memifClientSide, memifEndpointSide } from "./memif-sides.js";
import { checkPlumbable, fingerprintOf, isOurs } from "./plan.js";
import type { MemifBackendOptions, MemifEnv, MemifPlumbed, MemifSide } from "./types.js";

export type { MemifBackendOptions, MemifPlumbed, MemifSide } from "./types.js";

export interface MemifBackend extends DatapathBackend {
  /** live cross connects plumbed by this backend (not the fallback's) */
  readonly connections: ReadonlyMap<string, MemifPlumbed>;
  /** counters of one connection's ports and loop */
  stats(id: string): { client: MemifPortStats; endpoint: MemifPortStats; loop: MemifForwardStats } | undefined;
}

const portStats = (s: MemifSide): MemifPortStats | undefined => {
  try {
    return s.port.stats();
  } catch {
    return undefined;
  }
};

export function memifBackend(o: MemifBackendOptions = {}): MemifBackend {
  const log = (o.log ?? silentLogger).child({ datapath: "memif" });
  const fb = o.fallback;
  const node = o.netns ? Netns.open(o.netns) : Netns.current();
  const env: MemifEnv = {
    node,
    // AF_PACKET sockets are opened through our handle (valid while the backend is open)
    nodePath: o.netns ? node.procPath : undefined,
    log,
    socketDir: o.socketDir ?? `${tmpdir()}/memif`,
    linkUpTimeoutMs: o.linkUpTimeoutMs ?? 5000,
    memif: o.memif,
  };
  const endpointMechs = o.endpointMechanisms ?? [mechType.KERNEL, mechType.MEMIF];
  const live = new Map<string, MemifPlumbed>();
  /** cross connects handed to the fallback, by id (to remove them there when they change shape) */
  const delegated = new Map<string, CrossConnect>();

  async function teardown(r: MemifPlumbed): Promise<void> {
    const errors: string[] = [];
    r.loop.stop();
    for (const s of [r.client, r.endpoint]) {
      await closeSide(env, s).catch((e: unknown) => errors.push(`${s.iface}: ${(e as Error).message}`));
    }
    if (errors.length) throw new Error(`memif datapath: removing connection ${r.id}: ${errors.join("; ")}`);
  }
  /** Removes our previous plumbing of `id`, if any, logging a failure. */
  async function replace(id: string, why: string): Promise<void> {
    const prev = live.get(id);
    if (!prev) return;
    live.delete(id);
    log.debug({ connId: id }, why);
    await teardown(prev).catch((e: unknown) =>
      log.warn({ connId: id, err: (e as Error).message }, "memif datapath: removing the previous ports failed"),
    );
  }

  async function plumb(x: CrossConnect, fp: string, ctx: Ctx): Promise<MemifPlumbed> {
    checkPlumbable(x);
    const inM = x.incoming.mechanism!,
      outM = x.outgoing.mechanism!;
    const client =
      inM.type === mechType.MEMIF ? await memifClientSide(env, x, inM) : await kernelSide(env, x, inM, "client", ctx);
    let endpoint: MemifSide | undefined;
    try {
      endpoint =
        outM.type === mechType.MEMIF
          ? await memifEndpointSide(env, x, outM, ctx)
          : await kernelSide(env, x, outM, "endpoint", ctx);
      const loop = joinPorts(client.port, endpoint.port, { busyPoll: o.busyPoll ?? false });
      return { id: x.id, fp, client, endpoint, loop };
    } catch (e) {
      await closeSide(env, client).catch(() => undefined);
      if (endpoint) await closeSide(env, endpoint).catch(() => undefined);
      throw e;
    }
  }

  return {
    name: "memif",
    connections: live,
    mechanisms: {
      local: [...new Set([...(fb?.mechanisms.local ?? []), mechType.KERNEL, mechType.MEMIF])],
      remote: [...(fb?.mechanisms.remote ?? [])],
    },

    outgoingPreferences(incoming, opt) {
      if (opt.remote) return fb?.outgoingPreferences(incoming, opt) ?? [];
      if (incoming.mechanism?.type === mechType.MEMIF) return endpointMechs.map((t) => newMechanism(cls.LOCAL, t));
      const base = fb?.outgoingPreferences(incoming, opt) ?? [newMechanism(cls.LOCAL, mechType.KERNEL)];
      return base.some((m) => m.type === mechType.MEMIF) ? base : [...base, newMechanism(cls.LOCAL, mechType.MEMIF)];
    },

    async apply(x, ctx) {
      if (!isOurs(x, !!fb)) {
        await replace(x.id, "memif datapath: connection handed to the fallback, removing its ports");
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
      const fp = fingerprintOf(x);
      const prev = live.get(x.id);
      if (prev && prev.fp === fp) {
        // refresh: the NSC gets the same socket back
        if (prev.client.mechanism === "MEMIF")
          memif.setSocketFile(x.incoming.mechanism!, prev.client.iface.slice("MEMIF/".length));
        return;
      }
      await replace(x.id, "memif datapath: connection changed, replacing its ports");
      const r = await plumb(x, fp, ctx);
      live.set(x.id, r);
      log.debug({ connId: x.id, client: r.client.iface, endpoint: r.endpoint.iface }, "memif datapath: plumbed");
    },

    async remove(x, ctx) {
      const was = delegated.get(x.id);
      delegated.delete(x.id);
      if (was && fb) await fb.remove(x, ctx);
      const r = live.get(x.id);
      live.delete(x.id);
      if (r) await teardown(r);
    },

    async metrics(x) {
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

    stats(id) {
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
        await teardown(r).catch((e: unknown) => errors.push((e as Error).message));
      }
      delegated.clear();
      await fb?.close().catch((e: unknown) => errors.push(`fallback: ${(e as Error).message}`));
      node.close();
      if (errors.length) throw new Error(`memif datapath: close: ${errors.join("; ")}`);
    },
  };
}
