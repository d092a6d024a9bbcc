/**
 * Helpers every datapath backend shares: deciding that a delete found nothing, replacing a
 * stale interface of ours on EEXIST, and finding the node's tunnel address.
 */
import type { DatapathError } from "../../../datapath/errors.js";
import type { Netns } from "../../../datapath/netns.js";
import { type Logger, silentLogger } from "../../../tools/log.js";

/** The link/netns/process is already gone: a delete that finds nothing is done. */
export const isGone = (e: unknown): boolean => ["ENODEV", "ENOENT", "ESRCH"].includes((e as DatapathError).code);

/**
 * Runs `create`; when it fails with EEXIST because a name in `targets` is taken by an interface
 * of ours (alias `nsm:…`: a stale connection), deletes those and retries once. Anything else is
 * not touched: an interface without our alias fails the call naming it (prefixed by `o.what`),
 * before anything is deleted. Used by the kernel and ovs backends.
 *
 *   await withStaleRetry([{ ns: cNs, ifname: "nsm-1" }, { ns: eNs, ifname: "nsm-2" }], () => batch.commit(), { log });
 */
export async function withStaleRetry(
  targets: readonly { ns: Netns; ifname: string }[],
  create: () => Promise<unknown>,
  o: { log?: Logger; what?: string } = {},
): Promise<void> {
  try {
    await create();
  } catch (e) {
    if ((e as DatapathError).code !== "EEXIST") throw e;
    const found = [];
    for (const t of targets) {
      const l = await t.ns.linkByName(t.ifname).catch(() => undefined);
      if (!l) continue;
      if (!l.attrs.alias?.startsWith("nsm:")) {
        throw new Error(
          `${o.what ? `${o.what}: ` : ""}interface ${t.ifname} already exists in ${t.ns.name} and is not ours (alias ${JSON.stringify(l.attrs.alias ?? "")})`,
          { cause: e },
        );
      }
      found.push({ t, alias: l.attrs.alias });
    }
    if (!found.length) throw e;
    for (const { t, alias } of found) {
      (o.log ?? silentLogger).info({ ifname: t.ifname, netns: t.ns.name, alias }, "deleting a stale interface of ours");
      await t.ns.linkDel(t.ifname).catch((err: unknown) => {
        if (!isGone(err)) throw err;
      });
    }
    await create();
  }
}

/** Our tunnel address and the MTU of the link carrying it: the first global IPv4 address of `ns`. */
export async function detectTunnelIp(ns: Netns): Promise<{ ip: string; mtu: number } | undefined> {
  const addrs = (await ns.addrs({ family: 4 })).filter((a) => a.scope === 0 && a.link !== "lo");
  const a = addrs[0];
  if (!a) return undefined;
  const link = await ns.linkByName(a.link).catch(() => undefined);
  return { ip: a.cidr.split("/")[0]!, mtu: link?.attrs.mtu ?? 1500 };
}
