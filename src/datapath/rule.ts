/**
 * Policy routing rules (`ip rule`): only what the datapath needs so far, a rule that matches the
 * packets arriving on one interface (`iif`), or all, and drops them (blackhole) or looks up a table.
 * A rule names its interface, not its index: it holds for an interface made later under that
 * name (the kernel matches it again on register), which is why it can be put in place first.
 *
 *   await ns.batch().ruleAdd({ family: 6, iif: "nsm-1a2b", priority: 100, action: "blackhole" }).commit();
 */
import { DatapathError } from "./errors.js";
import type { Family } from "./ip.js";
import { checkIfname } from "./link.js";
import * as nl from "./netlink.js";

/** rtnetlink message types of rules (linux/rtnetlink.h) */
export const RTM_NEWRULE = 32,
  RTM_DELRULE = 33;

export interface Rule {
  readonly family: Family;
  /** the interface packets arrive on (FRA_IIFNAME); none: every packet */
  readonly iif?: string;
  /** FRA_PRIORITY: lower runs first; the kernel's `lookup local` rule is 0 */
  readonly priority: number;
  /** blackhole: dropped silently; a number: look up that table */
  readonly action: "blackhole" | number;
}

const FRA_IIFNAME = 3,
  FRA_PRIORITY = 6,
  FRA_TABLE = 15;
const FR_ACT_TO_TBL = 1,
  FR_ACT_BLACKHOLE = 6;

export function validateRule(r: Rule): void {
  if (typeof r !== "object" || r === null) throw DatapathError.invalid("rule missing");
  if (r.family !== 4 && r.family !== 6) throw DatapathError.invalid(`rule family ${String(r.family)}: want 4 or 6`);
  if (r.iif !== undefined) checkIfname(r.iif, "rule iif");
  if (!Number.isInteger(r.priority) || r.priority < 0 || r.priority > 0xffffffff)
    throw DatapathError.invalid(`rule priority ${r.priority}: want an integer 0..2^32-1`);
  if (r.action !== "blackhole" && (!Number.isInteger(r.action) || r.action < 1 || r.action > 0xffffffff))
    throw DatapathError.invalid(`rule action ${String(r.action)}: want "blackhole" or a table id`);
}

/** RTM_NEWRULE / RTM_DELRULE for `r` (struct fib_rule_hdr, then attributes) */
export function encodeRule(type: number, flags: number, r: Rule): nl.NlMsg {
  const hdr = Buffer.alloc(12);
  hdr.writeUInt8(r.family === 4 ? nl.AF_INET : nl.AF_INET6, 0);
  const table = r.action === "blackhole" ? 0 : r.action;
  hdr.writeUInt8(table < 256 ? table : 0, 4);
  hdr.writeUInt8(r.action === "blackhole" ? FR_ACT_BLACKHOLE : FR_ACT_TO_TBL, 7);
  const m = new nl.NlMsg(type, nl.NLM_F_REQUEST | nl.NLM_F_ACK | flags).struct(hdr);
  if (r.iif !== undefined) m.str(FRA_IIFNAME, r.iif);
  m.u32(FRA_PRIORITY, r.priority);
  if (table) m.u32(FRA_TABLE, table);
  return m;
}

export function ruleText(r: Rule): string {
  return `ipv${r.family} rule pref ${r.priority}${r.iif !== undefined ? ` iif ${r.iif}` : ""} ${r.action === "blackhole" ? "blackhole" : `lookup ${r.action}`}`;
}
