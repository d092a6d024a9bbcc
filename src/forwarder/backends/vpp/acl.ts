/**
 * VPP ACLs (the acl plugin) as upstream forwarder-vpp / sdk-vpp use them:
 *
 * - the uplink's deny-all lists (cmd-forwarder-vpp `internal/vppinit`): ingress
 *   `nsm-vppinit-denyall-ingress` lets IPv6 router advertisements and neighbour advertisements
 *   in and denies every other IPv4 and IPv6 packet; egress `nsm-vppinit-denyall-egress` lets
 *   router and neighbour solicitations out and denies the rest (ARP is not IP: it passes);
 * - pinholes (sdk-vpp `pinhole`): for each local UDP port a tunnel uses (VXLAN, WireGuard), an
 *   `nsm-pinhole-<port>` ACL put in front of both lists: ingress permits UDP from anywhere to our
 *   tunnel address and that destination port, egress from our tunnel address to anywhere and that
 *   destination port. Unlike upstream (whose pinholes stay for the forwarder's life) ours are
 *   counted per connection and removed with the last connection using the port;
 * - per-connection rules (sdk-vpp `acl`, the element upstream's firewall NSE puts in its chain):
 *   the rules as given on the interface's ingress, the same rules mirrored (source and
 *   destination swapped) on its egress, both tagged `nsm-acl-from-config`; removed on Close.
 *
 * Everything here is skipped when VPP has no acl plugin (`hasAcl`).
 */
import { SerialExecutor } from "../../../core/serial.js";
import { toPrefix } from "../../../vpp/address.js";
import type { VppClient } from "../../../vpp/client.js";
import type { AclRule as VppRule } from "../../../vpp/gen/messages.js";

export const ACL_MESSAGES = [
  "acl_add_replace",
  "acl_del",
  "acl_dump",
  "acl_interface_set_acl_list",
  "acl_interface_list_dump",
] as const;
export const hasAcl = (vpp: VppClient): boolean => ACL_MESSAGES.every((m) => vpp.has(m));

export const DENY_INGRESS = "nsm-vppinit-denyall-ingress";
export const DENY_EGRESS = "nsm-vppinit-denyall-egress";
export const CONFIG_TAG = "nsm-acl-from-config";
export const pinholeTag = (port: number): string => `nsm-pinhole-${port}`;
/** true for a tag this forwarder puts on an ACL */
export const isOurAclTag = (tag: string): boolean => tag.startsWith("nsm-");

/** One rule of an ACL (the acl plugin's `acl_rule`), in text form. */
export interface AclRule {
  action: "deny" | "permit" | "permit+reflect";
  /** CIDR; default any of the other side's family (0.0.0.0/0) */
  src?: string;
  dst?: string;
  /** IP protocol number (0 = any): 1 ICMP, 6 TCP, 17 UDP, 58 ICMPv6 */
  proto?: number;
  /** port range, or ICMP type range (source) / code range (destination); default any */
  sport?: [number, number];
  dport?: [number, number];
}

function toVppRule(r: AclRule): VppRule {
  const v6 = [r.src, r.dst].some((c) => c?.includes(":"));
  const any = v6 ? "::/0" : "0.0.0.0/0";
  const icmp = r.proto === 1 || r.proto === 58;
  const full: [number, number] = icmp ? [0, 255] : [0, 65535];
  const [sf, sl] = r.sport ?? full;
  const [df, dl] = r.dport ?? full;
  return {
    is_permit: r.action === "deny" ? 0 : r.action === "permit" ? 1 : 2,
    src_prefix: toPrefix(r.src ?? any),
    dst_prefix: toPrefix(r.dst ?? any),
    proto: r.proto ?? 0,
    srcport_or_icmptype_first: sf,
    srcport_or_icmptype_last: sl,
    dstport_or_icmpcode_first: df,
    dstport_or_icmpcode_last: dl,
    tcp_flags_mask: 0,
    tcp_flags_value: 0,
  };
}

/** The rule as seen from the other direction: source and destination (and their ports) swapped. */
export const mirror = (r: AclRule): AclRule => ({
  action: r.action,
  ...(r.dst !== undefined ? { src: r.dst } : {}),
  ...(r.src !== undefined ? { dst: r.src } : {}),
  ...(r.proto !== undefined ? { proto: r.proto } : {}),
  ...(r.dport ? { sport: r.dport } : {}),
  ...(r.sport ? { dport: r.sport } : {}),
});

async function addAcl(vpp: VppClient, tag: string, rules: AclRule[]): Promise<number> {
  const { acl_index } = await vpp.request("acl_add_replace", {
    acl_index: 0xffffffff,
    tag,
    r: rules.map(toVppRule),
  });
  return acl_index;
}

/** An interface's ACL lists (indices), ingress and egress. */
export async function aclLists(vpp: VppClient, swIfIndex: number): Promise<{ input: number[]; output: number[] }> {
  const [d] = await vpp.dump("acl_interface_list_dump", { sw_if_index: swIfIndex });
  const acls = d?.acls ?? [];
  return { input: acls.slice(0, d?.n_input ?? 0), output: acls.slice(d?.n_input ?? 0) };
}

function setLists(vpp: VppClient, swIfIndex: number, input: number[], output: number[]) {
  return vpp.request("acl_interface_set_acl_list", {
    sw_if_index: swIfIndex,
    n_input: input.length,
    acls: [...input, ...output],
  });
}

/** tag of every ACL in VPP, by index */
async function tags(vpp: VppClient): Promise<Map<number, string>> {
  return new Map((await vpp.dump("acl_dump", { acl_index: 0xffffffff })).map((a) => [a.acl_index, a.tag]));
}

/** Puts the deny-all lists on the uplink, unless they are there already (a restarted forwarder). */
export async function denyAll(vpp: VppClient, swIfIndex: number): Promise<void> {
  const have = await tags(vpp);
  const { input, output } = await aclLists(vpp, swIfIndex);
  if (input.some((i) => have.get(i) === DENY_INGRESS) && output.some((i) => have.get(i) === DENY_EGRESS)) return;
  const v6 = (t: number, dir: "in" | "out"): AclRule => ({
    action: "permit",
    proto: 58,
    ...(dir === "in" ? { src: "::/0" } : { dst: "::/0" }),
    sport: [t, t],
  });
  const denies: AclRule[] = [
    { action: "deny", src: "0.0.0.0/0", dst: "0.0.0.0/0" },
    { action: "deny", src: "::/0", dst: "::/0" },
  ];
  const ing = await addAcl(vpp, DENY_INGRESS, [v6(134, "in"), v6(136, "in"), ...denies]);
  const egr = await addAcl(vpp, DENY_EGRESS, [v6(133, "out"), v6(135, "out"), ...denies]);
  await setLists(vpp, swIfIndex, [...input, ing], [...output, egr]);
}

/**
 * Pinholes on one interface, counted: `open(port)` makes the ACL pair on first use, `close(port)`
 * removes it with the last user. Calls are serialised (each edits the interface's whole list).
 */
export class Pinholes {
  private readonly held = new Map<number, { users: number; acls: [number, number] }>();
  private readonly serial = new SerialExecutor();
  constructor(
    private readonly vpp: VppClient,
    private readonly swIfIndex: number,
    private readonly ip: string,
  ) {}

  open(port: number): Promise<void> {
    return this.serial.run(async () => {
      const h = this.held.get(port);
      if (h) {
        h.users++;
        return;
      }
      const host = this.ip.includes(":") ? `${this.ip}/128` : `${this.ip}/32`;
      const { input, output } = await aclLists(this.vpp, this.swIfIndex);
      const ing = await addAcl(this.vpp, pinholeTag(port), [
        { action: "permit", proto: 17, dst: host, dport: [port, port] },
      ]);
      const egr = await addAcl(this.vpp, pinholeTag(port), [
        { action: "permit", proto: 17, src: host, dport: [port, port] },
      ]);
      await setLists(this.vpp, this.swIfIndex, [ing, ...input], [egr, ...output]);
      this.held.set(port, { users: 1, acls: [ing, egr] });
    });
  }

  close(port: number): Promise<void> {
    return this.serial.run(async () => {
      const h = this.held.get(port);
      if (!h || --h.users > 0) return;
      this.held.delete(port);
      const { input, output } = await aclLists(this.vpp, this.swIfIndex);
      const keep = (l: number[]) => l.filter((i) => !h.acls.includes(i));
      await setLists(this.vpp, this.swIfIndex, keep(input), keep(output));
      for (const i of h.acls) await this.vpp.request("acl_del", { acl_index: i });
    });
  }
}

/** sdk-vpp `acl`: the rules on an interface's ingress, mirrored on its egress; returns the two ACLs. */
export async function applyRules(vpp: VppClient, swIfIndex: number, rules: AclRule[]): Promise<number[]> {
  const ing = await addAcl(vpp, CONFIG_TAG, rules);
  const egr = await addAcl(vpp, CONFIG_TAG, rules.map(mirror));
  await setLists(vpp, swIfIndex, [ing], [egr]);
  return [ing, egr];
}

/** Undoes applyRules: empties the interface's lists (when it still exists) and deletes the ACLs. */
export async function removeRules(vpp: VppClient, swIfIndex: number, acls: number[]): Promise<void> {
  await setLists(vpp, swIfIndex, [], []).catch(() => undefined);
  for (const i of acls) await vpp.request("acl_del", { acl_index: i });
}
