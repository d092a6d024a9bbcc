/**
 * VPP's stats segment, read in place: the addon gets the segment's memfd over the stats socket,
 * maps it read-only and reads it with VPP's epoch / in-progress protocol (docs/vpp.md).
 *
 *   const stats = vppStats("/run/vpp");            // a run dir (its stats.sock) or the socket itself
 *   for (const i of stats.interfaces()) console.log(i.name, i.rx.packets, i.drops);
 *   stats.close();
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { vppStatsNative, type VppStatEntry } from "../native/vpp-stats.js";
import { NsmError, status } from "../tools/errors.js";

export interface PacketsBytes {
  packets: number;
  bytes: number;
}

/** One interface's counters (summed over VPP's threads). */
export interface VppInterfaceStats {
  swIfIndex: number;
  name: string;
  rx: PacketsBytes;
  tx: PacketsBytes;
  drops: number;
  rxErrors: number;
  txErrors: number;
  /** every `/if/*` counter by its short name ("rx-unicast", "punt", ...) */
  all: Record<string, number | PacketsBytes>;
}

export interface VppStats {
  readonly socketPath: string;
  /** counters of every interface VPP names (deleted interfaces' slots are skipped) */
  interfaces(): VppInterfaceStats[];
  /** raw entries whose name starts with `prefix` */
  read(prefix: string): VppStatEntry[];
  close(): void;
}

export function vppStats(dirOrSocket: string): VppStats {
  const socketPath =
    existsSync(dirOrSocket) && statSync(dirOrSocket).isDirectory() ? join(dirOrSocket, "stats.sock") : dirOrSocket;
  let h: number;
  try {
    h = vppStatsNative.open(socketPath);
  } catch (e) {
    throw new NsmError(status.UNAVAILABLE, `VPP stats socket ${socketPath}: ${(e as Error).message}`, { cause: e });
  }
  let closed = false;
  const read = (prefix: string) => {
    if (closed) throw new NsmError(status.FAILED_PRECONDITION, `VPP stats for ${socketPath} is closed`);
    return vppStatsNative.read(h, prefix).entries;
  };
  return {
    socketPath,
    read,
    interfaces() {
      const entries = read("/if/");
      const names = entries.find((e) => e.name === "/if/names");
      if (!names || names.type !== 4) return [];
      const out: VppInterfaceStats[] = [];
      names.value.forEach((name, i) => {
        if (name === null) return;
        const all: Record<string, number | PacketsBytes> = {};
        for (const e of entries) {
          const key = e.name.slice(4);
          if (e.type === 2) all[key] = e.value[i] ?? 0;
          else if (e.type === 3) all[key] = { packets: e.value[0][i] ?? 0, bytes: e.value[1][i] ?? 0 };
        }
        const pb = (k: string) => (all[k] as PacketsBytes | undefined) ?? { packets: 0, bytes: 0 };
        const n = (k: string) => (all[k] as number | undefined) ?? 0;
        out.push({
          swIfIndex: i,
          name,
          rx: pb("rx"),
          tx: pb("tx"),
          drops: n("drops"),
          rxErrors: n("rx-error"),
          txErrors: n("tx-error"),
          all,
        });
      });
      return out;
    },
    close() {
      if (closed) return;
      closed = true;
      vppStatsNative.close(h);
    },
  };
}
