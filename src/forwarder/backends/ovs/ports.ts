/**
 * A KERNEL side in the OVS backend: a veth whose workload end is born in the workload's netns
 * (named by the mechanism, with its side's addresses and routes) and whose host end becomes an
 * OVS port marked with the connection id.
 */
import { kernel, type Mechanism } from "../../../api/index.js";
import type { Ctx } from "../../../core/index.js";
import type { CrossConnect } from "../../backend.js";
import type { SideOf } from "../shared/ipcontext.js";
import { openNetnsUrl } from "../shared/netnsurl.js";
import { addSideOps, aliasOf, ifnameOf } from "../shared/plumbing.js";
import { isGone, withStaleRetry } from "../shared/stale.js";
import { CONN_KEY, type OvsEnv, type OvsVethEnd } from "./types.js";

/** upstream: `tapsrc-`/`tapdst-` + the id cut to 15 bytes; we hash the id so ids sharing a prefix never collide */
export const hostPortName = (side: SideOf, id: string): string =>
  kernel.ifname(side === "src" ? "tapsrc" : "tapdst", id);

/** A veth from the workload's netns to an OVS port; `side` "src" faces the NSC. */
export async function addVethPort(
  env: OvsEnv,
  x: CrossConnect,
  m: Mechanism,
  side: SideOf,
  ctx: Ctx,
): Promise<OvsVethEnd> {
  const { host, vs, bridge } = env;
  const what = side === "src" ? "client side" : "endpoint side";
  const ifname = ifnameOf(m, what);
  const port = hostPortName(side, x.id);
  const ns = openNetnsUrl(kernel.netnsUrlOf(m), what);
  const alias = aliasOf(x.id);
  const mtu = x.outgoing.context?.MTU || env.mtu || undefined;
  try {
    const create = () =>
      host
        .batch()
        .linkAdd({
          kind: "veth",
          attrs: { name: port, mtu, up: true, alias },
          peer: { name: ifname, netns: ns, mtu, up: true },
        })
        .commit({ signal: ctx.signal });
    // a stale interface of ours (same connection id, or a workload name taken by one of ours) is replaced
    await withStaleRetry(
      [
        { ns: host, ifname: port },
        { ns, ifname },
      ],
      create,
      { log: env.log, what },
    );
    try {
      await addSideOps(ns.batch().linkSetAlias(ifname, alias), x, side, ifname).commit({ signal: ctx.signal });
      await vs.addPort(
        bridge,
        { name: port, externalIds: { [CONN_KEY]: x.id }, mayExist: true },
        { signal: ctx.signal },
      );
      const ofport = await vs.waitOfport(port, { signal: ctx.signal, timeoutMs: 10_000 });
      return { port, ofport, ifname, netns: ns.name };
    } catch (e) {
      await vs.delPort(bridge, port, { ifExists: true, wait: false }).catch(() => undefined);
      await host.linkDel(port).catch(() => undefined);
      throw e;
    }
  } finally {
    ns.close();
  }
}

/** Removes the OVS port and the veth (deleting the host end deletes the workload end too). */
export async function delVethPort(env: OvsEnv, e: OvsVethEnd): Promise<void> {
  const errors: string[] = [];
  try {
    await env.vs.delPort(env.bridge, e.port, { ifExists: true, wait: false });
  } catch (err) {
    errors.push(`del-port ${e.port}: ${(err as Error).message}`);
  }
  try {
    await env.host.linkDel(e.port);
  } catch (err) {
    if (!isGone(err)) errors.push(`veth ${e.port}: ${(err as Error).message}`);
  }
  if (errors.length) throw new Error(errors.join("; "));
}
