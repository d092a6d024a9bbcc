/**
 * How a Batch runs: its ops as rtnetlink messages in one native call, a refused op turned into a
 * DatapathError naming it, and the applied ops undone in reverse after a refusal.
 */
import { nlExec, type NlStepError } from "../native.js";
import { DatapathError } from "./errors.js";
import * as nl from "./netlink.js";
import { type NetnsHandle } from "./ref.js";

/** What a successful commit reports. */
export interface BatchResult {
  /** Milliseconds each op took in the kernel (send to ack), by op index. */
  readonly opMs: number[];
}

export interface CommitOptions {
  /** Checked before sending; a batch in flight runs to completion (rtnetlink has no cancel). */
  readonly signal?: AbortSignal;
  /** Revert applied ops when one fails (default true). */
  readonly undo?: boolean;
  /**
   * Run on a thread of its own instead of libuv's 4-thread pool (default false): for deletes,
   * which sleep ~20 ms in the kernel per veth (RCU grace period) and would hold a pool thread
   * that other netlink work and fs calls queue behind.
   */
  readonly ownThread?: boolean;
}

/** The netns a batch runs in, as the batch sees it. */
export interface BatchTarget extends NetnsHandle {}

export interface Op {
  readonly name: string;
  readonly arg: unknown;
  /** "creating veth nsm-1a (peer nsm-1b)": what the error message says we were doing. */
  readonly what: string;
  build(handles: NetnsHandle[]): nl.NlMsg[];
  /** The op that reverts this one, if it can be reverted. */
  undo?(): Op | undefined;
}

/** `op` sent to `other`'s netns: each of its messages that has no target yet gets one (as does its undo). */
export function retarget(op: Op, other: NetnsHandle): Op {
  return {
    name: op.name,
    arg: op.arg,
    what: `${op.what} (in ${other.name})`,
    build: (handles) => {
      handles.push(other);
      const msgs = op.build(handles);
      for (const m of msgs) if (!m.fixups.some((f) => f.kind === "target")) m.target({ fd: other.fd });
      return msgs;
    },
    ...(op.undo
      ? {
          undo: () => {
            const u = op.undo!();
            return u && retarget(u, other);
          },
        }
      : {}),
  };
}

export async function run(ns: BatchTarget, ops: readonly Op[], keepGoing: boolean, ownThread = false) {
  const handles: NetnsHandle[] = [ns];
  const msgs: nl.NlMsg[] = [];
  const msgOp: number[] = [];
  ops.forEach((op, i) => {
    for (const m of op.build(handles)) {
      msgs.push(m);
      msgOp.push(i);
    }
  });
  const { batch, fixups } = nl.packBatch(msgs);
  const held: NetnsHandle[] = [];
  try {
    for (const h of new Set(handles)) {
      h.acquire();
      held.push(h);
    }
    return { results: await nlExec(ns.fd, batch, fixups, { keepGoing, ownThread }), msgOp };
  } catch (e) {
    throw DatapathError.wrap(e, `running a batch of ${ops.length} op(s)`, ns.name);
  } finally {
    for (const h of held) h.release();
  }
}

/** Errnos meaning "the thing to remove is already gone": the undo of that op is done. */
const GONE = new Set(["ENODEV", "EADDRNOTAVAIL", "ESRCH", "ENOENT"]);

/** Reverts `applied` in reverse order, best effort; returns a note for the error message. */
export async function undo(ns: BatchTarget, applied: readonly Op[]): Promise<string> {
  const reverts = applied
    .map((o) => o.undo?.())
    .filter((o): o is Op => o !== undefined)
    .reverse();
  if (!reverts.length) return "";
  try {
    const { results, msgOp } = await run(ns, reverts, true);
    const failed = results.errors
      .map((e, i) => (e && !GONE.has(e.code) ? `${reverts[msgOp[i]!]!.what}: ${e.code}` : ""))
      .filter(Boolean);
    if (!failed.length) return `; undid ${reverts.length} earlier op(s)`;
    const more = failed.length > 5 ? ` and ${failed.length - 5} more` : "";
    return `; undo incomplete: ${failed.slice(0, 5).join("; ")}${more}`;
  } catch (e) {
    return `; undo failed: ${(e as Error).message}`;
  }
}

export function stepError(
  ns: BatchTarget,
  total: number,
  step: number,
  op: Op,
  e: NlStepError,
  undoNote: string,
): DatapathError {
  const where = e.path ? ` ${e.path}` : "";
  const detail = e.detail ? ` (${e.detail})` : "";
  return new DatapathError(
    `op ${step + 1}/${total} ${op.name}: ${e.code} ${op.what} in ${ns.name}: ${e.syscall}${where}${detail}${undoNote}`,
    {
      code: e.code,
      errno: e.errno,
      syscall: e.syscall,
      path: e.path,
      detail: e.detail,
      netns: ns.name,
      op: op.name,
      step,
    },
    { cause: e },
  );
}
