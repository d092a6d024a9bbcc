/**
 * Interfaces a mesh's kernel forwarders made in namespaces the mesh does not own (a client's
 * hand-made netns) and that are still there once every process stopped: an NSC whose Close did
 * not get through before `nsm down` stopped the forwarders leaves its `nsm-1` behind otherwise.
 * The forwarders' records say where each end was made; an interface is deleted only while it
 * still carries that connection's alias `nsm:<id>` (a name reused by someone else is left alone).
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Netns } from "../datapath/netns.js";
import { RecordStore } from "../forwarder/backends/kernel/records.js";
import type { PlumbedRecord } from "../forwarder/backends/kernel/types.js";
import { silentLogger } from "../tools/log.js";

/** Opens the namespace an end was made in: its recorded path if still the same netns, else a /run/netns entry with its inode. */
function findNetns(path: string, inode: string): Netns | undefined {
  const candidates = [path, ...safeList("/run/netns").map((n) => join("/run/netns", n))];
  for (const p of candidates) {
    if (!existsSync(p)) continue;
    let ns: Netns | undefined;
    try {
      ns = Netns.open(p);
      if (ns.inode() === inode) return ns;
    } catch {
      /* not a netns, or gone */
    }
    ns?.close();
  }
  return undefined;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Deletes the interfaces the records in `stateDirs` name, skipping namespaces in `skip` (the
 * mesh's own, deleted whole afterwards). Returns the `netns/ifname` it removed; never throws.
 */
export async function removeLeftInterfaces(stateDirs: readonly string[], skip: ReadonlySet<string>): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of stateDirs) {
    if (!existsSync(dir)) continue;
    let loaded: Map<string, PlumbedRecord>;
    try {
      const r = RecordStore.open<PlumbedRecord>(dir, silentLogger);
      r.store.close();
      loaded = r.loaded;
    } catch {
      continue;
    }
    for (const rec of loaded.values()) {
      for (const end of rec.ends ?? []) {
        if (skip.has(end.netns)) continue;
        const ns = findNetns(end.netns, end.inode);
        if (!ns) continue;
        try {
          if (skip.has(ns.name)) continue;
          const l = await ns.linkByName(end.ifname).catch(() => undefined);
          if (l?.attrs.alias === `nsm:${rec.id}`) {
            await ns.linkDel(end.ifname);
            removed.push(`${ns.name}/${end.ifname}`);
          }
        } catch {
          /* gone meanwhile */
        } finally {
          ns.close();
        }
      }
    }
  }
  return removed;
}
