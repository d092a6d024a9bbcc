/**
 * Cross connects between the two VPP interfaces of a connection (sdk-vpp `xconnect/l2xconnect`,
 * `xconnect/l3xconnect`): ETHERNET payload gets an L2 cross connect each way; IP payload gets an
 * L3 cross connect per interface and family, whose one path goes out of the other interface to
 * the first address of that family on the far side.
 */
import type { IPContext } from "../../../api/index.js";
import type { VppClient } from "../../../vpp/client.js";
import { toAddress } from "../../../vpp/address.js";
import type { VppRecord } from "./types.js";

const first = (cidrs: readonly string[] | undefined, v6: boolean) =>
  (cidrs ?? []).map((c) => c.split("/")[0]!).find((a) => a.includes(":") === v6);

export async function xconnect(vpp: VppClient, r: VppRecord, ip: IPContext | undefined): Promise<void> {
  const [a, b] = [r.sides[0]!.swIfIndex, r.sides[1]!.swIfIndex];
  if (r.xc === "l2") {
    await vpp.request("sw_interface_set_l2_xconnect", { rx_sw_if_index: a, tx_sw_if_index: b, enable: true });
    await vpp.request("sw_interface_set_l2_xconnect", { rx_sw_if_index: b, tx_sw_if_index: a, enable: true });
    return;
  }
  // from the NSC side: to the NSE (dst addresses); from the NSE side: to the NSC (src addresses)
  for (const [from, to, hops] of [
    [a, b, ip?.dstIpAddrs],
    [b, a, ip?.srcIpAddrs],
  ] as const) {
    for (const v6 of [false, true]) {
      const hop = first(hops, v6);
      await vpp.request("l3xc_update", {
        l3xc: {
          sw_if_index: from,
          is_ip6: v6,
          paths: [{ sw_if_index: to, proto: v6 ? 1 : 0, nh: { address: hop ? toAddress(hop).un : undefined } }],
        },
      });
    }
  }
}

/** Undoes `xconnect`; errors (an interface already gone) are ignored. */
export async function unXconnect(vpp: VppClient, r: VppRecord): Promise<void> {
  const [a, b] = [r.sides[0]?.swIfIndex, r.sides[1]?.swIfIndex];
  if (a === undefined || b === undefined) return;
  const quiet = (p: Promise<unknown>) => p.catch(() => undefined);
  if (r.xc === "l2") {
    await quiet(vpp.request("sw_interface_set_l2_xconnect", { rx_sw_if_index: a, tx_sw_if_index: b, enable: false }));
    await quiet(vpp.request("sw_interface_set_l2_xconnect", { rx_sw_if_index: b, tx_sw_if_index: a, enable: false }));
    return;
  }
  for (const i of [a, b])
    for (const v6 of [false, true]) await quiet(vpp.request("l3xc_del", { sw_if_index: i, is_ip6: v6 }));
}
