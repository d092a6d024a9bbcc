/**
 * The addon's VPP stats-segment reader (native/src/vpp_stats.cc), typed; use src/vpp/stats.ts.
 * Synchronous; errors are NativeError.
 */
import { load, sync } from "../native.js";

/** A stats-segment entry: 1 scalar, 2 simple counters, 3 combined [packets, bytes], 4 names. */
export type VppStatEntry = { readonly name: string } & (
  | { type: 1; value: number }
  | { type: 2; value: number[] }
  | { type: 3; value: [number[], number[]] }
  | { type: 4; value: (string | null)[] }
);

interface VppStatsAddon {
  vppStatsOpen(socketPath: string): number;
  vppStatsRead(h: number, prefix: string): { epoch: number; entries: VppStatEntry[] };
  vppStatsClose(h: number): void;
}

function addon(): VppStatsAddon {
  const a = load() as unknown as Partial<VppStatsAddon>;
  if (!a.vppStatsOpen) throw new Error('nsm_native.node is out of date (no vppStatsOpen); run "npm run build:native"');
  return a as VppStatsAddon;
}

export const vppStatsNative = {
  /** Gets the segment's memfd over VPP's stats socket and maps it read-only; returns a handle. */
  open: (socketPath: string): number => sync(() => addon().vppStatsOpen(socketPath)),
  /** One consistent read (epoch / in-progress protocol) of the entries whose name starts with `prefix`. */
  read: (h: number, prefix: string): { epoch: number; entries: VppStatEntry[] } =>
    sync(() => addon().vppStatsRead(h, prefix)),
  /** Unmaps the segment; idempotent. */
  close: (h: number): void => sync(() => addon().vppStatsClose(h)),
};
