/**
 * Removing a kernel-backend connection: delete each interface that still carries our alias (a
 * veth end takes its peer along), stop its wireguard-go, and do it off the request path. A veth
 * delete waits an RCU grace period (~16-20 ms) in the kernel, so deletes run in the background,
 * at most MAX_REMOVING at once, each on a thread of its own; a later create of the same name
 * waits for the delete (`waitFor`).
 *
 *   const remover = new Remover(log, (r) => wg.stop(r), (r) => store?.del(r.id, r));
 *   void remover.inBackground(rec);        // Close
 *   await remover.waitFor([endKey(end)]);  // before re-creating that name
 */
import type { Logger } from "../../../tools/log.js";
import { reopen } from "../shared/netnsurl.js";
import { aliasOf } from "../shared/plumbing.js";
import { isGone } from "../shared/stale.js";
import { endKey, type PlumbedEnd, type PlumbedRecord } from "./types.js";

/** background teardowns at once */
const MAX_REMOVING = 16;

/** Deletes one interface if it is still ours; true when it deleted it. */
export async function deleteEnd(id: string, e: PlumbedEnd): Promise<boolean> {
  const ns = reopen(e.netns, e.inode);
  if (!ns) return false; // the namespace is gone, and its interfaces with it
  try {
    const l = await ns.linkByName(e.ifname).catch((err: unknown) => {
      if (isGone(err)) return undefined;
      throw err;
    });
    if (!l || l.attrs.alias !== aliasOf(id)) return false;
    // a veth delete sleeps ~20 ms (RCU): not on a pool thread that Requests' netlink work needs
    await ns.linkDel(e.ifname, { ownThread: true }).catch((err: unknown) => {
      if (!isGone(err)) throw err;
    });
    return true;
  } finally {
    ns.close();
  }
}

export class Remover {
  /** background deletes by key (`endKey` or "wg:<dev>") */
  private readonly deleting = new Map<string, Promise<void>>();
  private removing = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    private readonly log: Logger,
    /** stops the record's wireguard-go, if any */
    private readonly stopWg: (r: PlumbedRecord) => Promise<void>,
    /** drops the record from the state dir (unless it was recorded again since) */
    private readonly forget: (r: PlumbedRecord) => void,
  ) {}

  /** Removes everything `r` made, now; throws one error listing every part that failed. */
  async teardown(r: PlumbedRecord): Promise<void> {
    const errors: string[] = [];
    for (const e of r.ends) {
      try {
        // deleting one end of a veth deletes its peer: nothing left to look for
        if ((await deleteEnd(r.id, e)) && r.kind === "veth") break;
      } catch (err) {
        errors.push(`${e.ifname} in ${e.netns}: ${(err as Error).message}`);
      }
    }
    try {
      await this.stopWg(r);
    } catch (err) {
      errors.push(`wireguard-go ${r.wg?.dev}: ${(err as Error).message}`);
    }
    if (errors.length) throw new Error(`kernel datapath: removing connection ${r.id}: ${errors.join("; ")}`);
  }

  /**
   * Runs the teardown in the background; later creates of the same names wait for it. The record
   * goes once the interfaces are gone (kept when removing failed: a restart retries), unless the
   * connection was recorded again meanwhile.
   */
  inBackground(r: PlumbedRecord): Promise<void> {
    const p = this.withSlot(() => this.teardown(r)).then(
      () => this.forget(r),
      (e: unknown) =>
        this.log.warn({ connId: r.id, err: (e as Error).message }, "kernel datapath: background remove failed"),
    );
    const keys = [...r.ends.map(endKey), ...(r.wg ? [`wg:${r.wg.dev}`] : [])];
    const done = p.finally(() => {
      for (const k of keys) if (this.deleting.get(k) === done) this.deleting.delete(k);
    });
    for (const k of keys) this.deleting.set(k, done);
    return done;
  }

  async waitFor(keys: readonly string[]): Promise<void> {
    for (const k of keys) await this.deleting.get(k);
  }

  /** Resolves when every background delete has finished. */
  async idle(): Promise<void> {
    while (this.deleting.size) await Promise.all([...this.deleting.values()]);
  }

  /**
   * At most MAX_REMOVING teardowns at once: each veth delete sleeps in the kernel on a thread of
   * its own (not libuv's pool), so a burst of Closes must not start a thread each.
   */
  private async withSlot<T>(f: () => Promise<T>): Promise<T> {
    if (this.removing < MAX_REMOVING) this.removing++;
    else await new Promise<void>((r) => this.queue.push(r)); // the slot is handed over, count unchanged
    try {
      return await f();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.removing--;
    }
  }
}
