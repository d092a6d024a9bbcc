/**
 * A batch of rtnetlink operations on one netns, sent by one native call on a worker thread.
 *
 * ```ts
 * await ns.batch()
 *   .linkAdd({ kind: "veth", attrs: { name: "nsm-1a", up: true }, peer: { name: "eth0", netns: client, up: true } })
 *   .addrAdd({ link: "nsm-1a", cidr: "172.16.0.1/31" })
 *   .commit();
 * ```
 * Input is checked when an op is added, but every problem is reported by `commit()` (rejects),
 * before anything is sent. Ops run in order and stop at the first refusal; by default the ops
 * that did apply are then undone in reverse (creations deleted, renames reverted), so a failed
 * batch leaves nothing half-created. Changes (up, MTU, MAC, alias, master) and deletions are not
 * reverted. Errors are {@link DatapathError}s naming the op (1-based in the message, `step`
 * 0-based), what it was doing, the netns, and the kernel's errno.
 */
import { addrText, encodeAddr, validateAddr, type Addr } from "./addr.js";
import { DatapathError } from "./errors.js";
import {
  retarget,
  run,
  undo,
  stepError,
  type BatchResult,
  type BatchTarget,
  type CommitOptions,
  type Op,
} from "./batch-run.js";

export type { BatchResult, BatchTarget, CommitOptions } from "./batch-run.js";
import {
  checkIfname,
  describeSpec,
  encodeLinkAdd,
  encodeLinkDel,
  encodeLinkDelGroup,
  encodeEthtoolSet,
  ETHTOOL_STXCSUM,
  encodeLinkSet,
  targetAt,
  validateChange,
  validateSpec,
  type LinkChange,
  type LinkSpec,
} from "./link.js";
import { encodeNeigh, validateNeigh, type Neigh } from "./neigh.js";
import * as nl from "./netlink.js";
import { isNetnsHandle, peerKey, type NetnsHandle, type NetnsRef } from "./ref.js";
import { encodeRoute, routeText, validateRoute, type Route } from "./route.js";
import { encodeRule, RTM_DELRULE, RTM_NEWRULE, ruleText, validateRule, type Rule } from "./rule.js";

const CREATE_EXCL = nl.NLM_F_CREATE | nl.NLM_F_EXCL;
const CREATE_REPLACE = nl.NLM_F_CREATE | nl.NLM_F_REPLACE;
const duplicate = (name: string, where: string, prev: number) =>
  DatapathError.invalid(`duplicate link name "${name}" in ${where}: op ${prev + 1} creates it too`);

export class Batch {
  private readonly ops: Op[] = [];
  private invalid: { step: number; name: string; error: DatapathError } | undefined;
  private committed = false;
  /** name -> op index, per netns key, for duplicate detection within the batch. */
  private readonly created = new Map<string, number>();

  constructor(private readonly ns: BatchTarget) {}

  /** Number of ops queued. */
  get length(): number {
    return this.ops.length;
  }

  private push(name: string, arg: unknown, check: () => void, make: () => Omit<Op, "name" | "arg">): this {
    const step = this.ops.length;
    let op: Op;
    try {
      check();
      op = { name, arg, ...make() };
    } catch (e) {
      if (!this.invalid) {
        this.invalid = { step, name, error: e instanceof DatapathError ? e : DatapathError.invalid(String(e)) };
      }
      op = { name, arg, what: "(invalid)", build: () => [] };
    }
    this.ops.push(op);
    return this;
  }

  private claim(name: string, where: string): void {
    const key = `${where}\0${name}`;
    const prev = this.created.get(key);
    if (prev !== undefined) throw duplicate(name, where, prev);
    this.created.set(key, this.ops.length);
  }

  /**
   * Queues the ops `fill` adds to its batch so that they run in another netns, inside this
   * batch's one native call (their messages go to a netlink socket opened in `other`). Order,
   * stop at the first refusal and undo are those of the whole batch; error messages name
   * `other`. A tap cannot be created this way (TUNSETIFF runs in the batch's own netns).
   *
   * ```ts
   * await client.batch()
   *   .linkAdd({ kind: "veth", attrs: { name: "nsm-1", up: true }, peer: { name: "nsm-2", netns: nse, up: true } })
   *   .addrReplace({ link: "nsm-1", cidr: "172.16.0.1/31" })
   *   .in(nse, (b) => b.addrReplace({ link: "nsm-2", cidr: "172.16.0.0/31" }))
   *   .commit();
   * ```
   */
  in(other: NetnsHandle, fill: (b: Batch) => unknown): this {
    const sub = new Batch(other);
    try {
      fill(sub);
    } catch (e) {
      sub.invalid ??= {
        step: sub.ops.length,
        name: "in",
        error: e instanceof DatapathError ? e : DatapathError.invalid(String(e)),
      };
    }
    const base = this.ops.length;
    if (sub.invalid && !this.invalid) this.invalid = { ...sub.invalid, step: base + sub.invalid.step };
    for (const [key, at] of sub.created) {
      const prev = this.created.get(key);
      if (prev !== undefined && !this.invalid) {
        const [where, name] = key.split("\0") as [string, string];
        this.invalid = { step: base + at, name: "linkAdd", error: duplicate(name, where, prev) };
      }
      this.created.set(key, base + at);
    }
    sub.ops.forEach((op, i) => {
      if (op.name === "linkAdd" && (op.arg as LinkSpec).kind === "tap" && !this.invalid) {
        this.invalid = {
          step: base + i,
          name: "linkAdd",
          error: DatapathError.invalid(
            `a tap cannot be created in another netns (${other.name}) within a batch for ${this.ns.name}`,
          ),
        };
      }
      this.ops.push(retarget(op, other));
    });
    return this;
  }

  /** Creates a link (veth with its peer directly in `peer.netns`, vxlan, bridge, tap). */
  linkAdd(l: LinkSpec): this {
    return this.push(
      "linkAdd",
      l,
      () => {
        validateSpec(l);
        this.claim(l.attrs.name, l.kind === "vxlan" ? peerKey(l.netns, this.ns.name) : this.ns.name);
        if (l.kind === "veth") this.claim(l.peer.name, peerKey(l.peer.netns, this.ns.name));
      },
      () => ({
        what: `creating ${describeSpec(l)}`,
        build: (h) => encodeLinkAdd(l, h),
        undo: () =>
          l.kind === "vxlan" && l.netns !== undefined ? this.delOpIn(l.attrs.name, l.netns) : this.delOp(l.attrs.name),
      }),
    );
  }

  private delOp(name: string): Op {
    return { name: "linkDel", arg: name, what: `deleting link ${name}`, build: () => [encodeLinkDel(name)] };
  }
  /** Deletes link `name` in another netns (the undo of a link created there). */
  private delOpIn(name: string, where: NetnsHandle | NetnsRef): Op {
    return {
      name: "linkDel",
      arg: name,
      what: `deleting link ${name} in ${peerKey(where, this.ns.name)}`,
      build: (h) => {
        if (isNetnsHandle(where)) h.push(where);
        return [targetAt(encodeLinkDel(name), where)];
      },
    };
  }

  /** Deletes a link (for a veth, both ends). Not undone if a later op fails. */
  linkDel(name: string): this {
    return this.push(
      "linkDel",
      name,
      () => void checkIfname(name),
      () => this.delOp(name),
    );
  }

  /**
   * Deletes every link in `group` (set with `attrs.group` at creation) with one message: the
   * kernel unregisters them together, paying one RCU grace period instead of one per link
   * (~16 ms each for veth). Group 0 (the default group) is refused.
   */
  linkDelGroup(group: number): this {
    return this.push(
      "linkDelGroup",
      group,
      () => {
        if (!Number.isInteger(group) || group < 1 || group > 0xffffffff)
          throw DatapathError.invalid(`invalid link group ${String(group)}: 1..4294967295`);
      },
      () => ({ what: `deleting link group ${group}`, build: () => [encodeLinkDelGroup(group)] }),
    );
  }

  /** Changes a link: up/down, MTU, name, MAC, alias, master, netns. Only a rename is undone. */
  linkSet(name: string, change: LinkChange): this {
    return this.push(
      "linkSet",
      { name, ...change },
      () => validateChange(name, change),
      () => ({
        what: `changing link ${name} (${Object.keys(change).join(", ")})`,
        build: (h) => [encodeLinkSet(name, change, h)],
        ...(change.name !== undefined && change.name !== name
          ? {
              undo: () => ({
                name: "linkSet",
                arg: { name: change.name, rename: name },
                what: `renaming ${change.name} back to ${name}`,
                build: (h: NetnsHandle[]) => [encodeLinkSet(change.name!, { name }, h)],
              }),
            }
          : {}),
      }),
    );
  }
  /** `ethtool -K <name> tx on|off` (off also drops TSO: whole, checksummed packets of at most the MTU). Not undone. */
  linkSetTxChecksum(name: string, on: boolean): this {
    return this.push(
      "linkSetTxChecksum",
      { name, on },
      () => void checkIfname(name),
      () => ({
        what: `turning tx checksum offload ${on ? "on" : "off"} on ${name}`,
        build: () => [encodeEthtoolSet(name, ETHTOOL_STXCSUM, on ? 1 : 0)],
      }),
    );
  }
  linkSetUp(name: string): this {
    return this.linkSet(name, { up: true });
  }
  linkSetDown(name: string): this {
    return this.linkSet(name, { up: false });
  }
  linkSetMtu(name: string, mtu: number): this {
    return this.linkSet(name, { mtu });
  }
  linkSetName(name: string, newName: string): this {
    return this.linkSet(name, { name: newName });
  }
  linkSetMac(name: string, mac: string): this {
    return this.linkSet(name, { mac });
  }
  linkSetAlias(name: string, alias: string): this {
    return this.linkSet(name, { alias });
  }
  /** Enslaves `name` to bridge `master`, or releases it when `master` is null. */
  linkSetMaster(name: string, master: string | null): this {
    return this.linkSet(name, { master });
  }
  /** Moves `name` to another netns (slow for veth: ~16 ms; prefer creating it there). */
  linkSetNetns(name: string, netns: NetnsHandle | NetnsRef): this {
    return this.linkSet(name, { netns });
  }

  /** Adds an address (EEXIST if present). IPv6 addresses get IFA_F_NODAD unless `noDad: false`. */
  addrAdd(a: Addr): this {
    return this.addr("addrAdd", nl.RTM_NEWADDR, CREATE_EXCL, a);
  }
  /** Adds or updates an address. Undo deletes it. */
  addrReplace(a: Addr): this {
    return this.addr("addrReplace", nl.RTM_NEWADDR, CREATE_REPLACE, a);
  }
  addrDel(a: Addr): this {
    return this.addr("addrDel", nl.RTM_DELADDR, 0, a);
  }
  private addr(name: string, type: number, flags: number, a: Addr): this {
    const del = type === nl.RTM_DELADDR;
    return this.push(
      name,
      a,
      () => validateAddr(a),
      () => ({
        what: `${del ? "deleting" : "adding"} address ${addrText(a)}`,
        build: () => [encodeAddr(type, flags, a)],
        ...(del
          ? {}
          : {
              undo: () => ({
                name: "addrDel",
                arg: a,
                what: `deleting address ${addrText(a)}`,
                build: () => [encodeAddr(nl.RTM_DELADDR, 0, a)],
              }),
            }),
      }),
    );
  }

  /** Adds a route (EEXIST if the same destination/table/metric exists). */
  routeAdd(r: Route): this {
    return this.route("routeAdd", nl.RTM_NEWROUTE, CREATE_EXCL, r);
  }
  /** Adds or replaces a route. Undo deletes it (a replaced route is not restored). */
  routeReplace(r: Route): this {
    return this.route("routeReplace", nl.RTM_NEWROUTE, CREATE_REPLACE, r);
  }
  routeDel(r: Route): this {
    return this.route("routeDel", nl.RTM_DELROUTE, 0, r);
  }
  private route(name: string, type: number, flags: number, r: Route): this {
    const check = () => validateRoute(r, type !== nl.RTM_DELROUTE);
    const encode = (t: number, f: number) => encodeRoute(t, f, r);
    return this.object(name, r, check, `route ${routeText(r)}`, type, flags, encode, ["routeDel", nl.RTM_DELROUTE]);
  }

  /** Adds a policy routing rule (EEXIST if the same rule exists). Undo deletes it. */
  ruleAdd(r: Rule): this {
    return this.rule("ruleAdd", RTM_NEWRULE, CREATE_EXCL, r);
  }
  ruleDel(r: Rule): this {
    return this.rule("ruleDel", RTM_DELRULE, 0, r);
  }
  private rule(name: string, type: number, flags: number, r: Rule): this {
    const encode = (t: number, f: number) => encodeRule(t, f, r);
    return this.object(name, r, () => validateRule(r), ruleText(r), type, flags, encode, ["ruleDel", RTM_DELRULE]);
  }

  /** Adds a neighbour entry (default state permanent). */
  neighAdd(n: Neigh): this {
    return this.neigh("neighAdd", nl.RTM_NEWNEIGH, CREATE_EXCL, n);
  }
  neighReplace(n: Neigh): this {
    return this.neigh("neighReplace", nl.RTM_NEWNEIGH, CREATE_REPLACE, n);
  }
  neighDel(n: Neigh): this {
    return this.neigh("neighDel", nl.RTM_DELNEIGH, 0, n);
  }
  private neigh(name: string, type: number, flags: number, n: Neigh): this {
    const del = type === nl.RTM_DELNEIGH;
    const text = `neighbour ${n.ip}${n.mac && !del ? ` lladdr ${n.mac}` : ""} on ${n.link}`;
    const encode = (t: number, f: number) => encodeNeigh(t, f, n);
    return this.object(name, n, () => validateNeigh(n, !del), text, type, flags, encode, ["neighDel", nl.RTM_DELNEIGH]);
  }

  /** A netlink object's add/replace/delete (`type` = `undo[1]`: a delete); a create is undone by deleting it. */
  private object(
    name: string,
    arg: unknown,
    check: () => void,
    text: string,
    type: number,
    flags: number,
    encode: (type: number, flags: number) => nl.NlMsg,
    undo: readonly [name: string, type: number],
  ): this {
    const del = type === undo[1];
    return this.push(name, arg, check, () => ({
      what: `${del ? "deleting" : "adding"} ${text}`,
      build: () => [encode(type, flags)],
      ...(del
        ? {}
        : { undo: () => ({ name: undo[0], arg, what: `deleting ${text}`, build: () => [encode(undo[1], 0)] }) }),
    }));
  }

  /** Sends every op in one native call; see the class comment for failure semantics. */
  async commit(opts: CommitOptions = {}): Promise<BatchResult> {
    if (this.committed) throw DatapathError.invalid(`batch for ${this.ns.name} was already committed`);
    this.committed = true;
    if (this.invalid) {
      const { step, name, error: d } = this.invalid;
      throw new DatapathError(
        `op ${step + 1}/${this.ops.length} ${name}: ${d.message} (nothing was sent to ${this.ns.name})`,
        { ...d, op: name, step, netns: this.ns.name },
        { cause: d },
      );
    }
    opts.signal?.throwIfAborted();
    if (this.ops.length === 0) return { opMs: [] };
    const { results, msgOp } = await run(this.ns, this.ops, false, opts.ownThread ?? false);
    const opMs = new Array<number>(this.ops.length).fill(0);
    results.timesNs.forEach((t, i) => {
      opMs[msgOp[i]!]! += t / 1e6;
    });
    const failedMsg = results.errors.findIndex((e) => e !== null);
    if (failedMsg < 0) return { opMs };

    const step = msgOp[failedMsg]!;
    const op = this.ops[step]!;
    const err = results.errors[failedMsg]!;
    // Applied: ops before `step`, and `step` itself if one of its messages went through.
    const firstMsgOfStep = msgOp.indexOf(step);
    const applied = this.ops.slice(0, failedMsg > firstMsgOfStep ? step + 1 : step);
    let undoNote = "";
    if (opts.undo !== false && applied.length) undoNote = await undo(this.ns, applied);
    throw stepError(this.ns, this.ops.length, step, op, err, undoNote);
  }
}
