/**
 * KERNEL → KERNEL on one node: one veth pair, the NSC's end born in the NSC's netns and the NSE's
 * end in the NSE's, each with the alias `nsm:<id>`, up, and its side's addresses and routes, all
 * in one native call (a refusal undoes all of it).
 */
import { kernel } from "../../../api/index.js";
import type { Ctx } from "../../../core/index.js";
import type { CrossConnect } from "../../backend.js";
import { openNetnsUrl } from "../shared/netnsurl.js";
import { addSideOps, aliasOf, contextMtu, ifnameOf } from "../shared/plumbing.js";
import { withStaleRetry } from "../shared/stale.js";
import { endKey, type KernelEnv, type PlumbedRecord } from "./types.js";

export async function plumbVeth(env: KernelEnv, x: CrossConnect, fp: string, ctx: Ctx): Promise<PlumbedRecord> {
  const inM = x.incoming.mechanism!,
    outM = x.outgoing.mechanism!;
  const cName = ifnameOf(inM, "client side"),
    eName = ifnameOf(outM, "endpoint side");
  const cNs = openNetnsUrl(kernel.netnsUrlOf(inM), "client side");
  try {
    const eNs = openNetnsUrl(kernel.netnsUrlOf(outM), "endpoint side");
    try {
      const ends = [
        { netns: cNs.name, inode: cNs.inode(), ifname: cName },
        { netns: eNs.name, inode: eNs.inode(), ifname: eName },
      ];
      await env.waitFor(ends.map(endKey));
      const mtu = contextMtu(x) || undefined;
      const alias = aliasOf(x.id);
      const rec: PlumbedRecord = { id: x.id, kind: "veth", fp, ends };
      env.persist(rec); // before anything exists: a crash from here on leaves a record of where to look
      await withStaleRetry(
        [
          { ns: cNs, ifname: cName },
          { ns: eNs, ifname: eName },
        ],
        async () => {
          const b = cNs.batch().linkAdd({
            kind: "veth",
            attrs: { name: cName, mtu, up: true, alias },
            peer: { name: eName, netns: eNs, mtu, up: true },
          });
          addSideOps(b, x, "src", cName);
          b.in(eNs, (eb) => addSideOps(eb.linkSet(eName, { alias }), x, "dst", eName));
          await b.commit({ signal: ctx.signal });
        },
        { log: env.log },
      );
      return rec;
    } finally {
      eNs.close();
    }
  } finally {
    cNs.close();
  }
}
