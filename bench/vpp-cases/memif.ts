/**
 * bench/vpp memif: memif↔memif packet rate through VPP's l2 xconnect vs our native memif
 * crossConnect, same loop (bench/memif-cases/loop.ts): testpmd A (io, two net_memif server
 * ports, `tx_first`, forwarding on CPU 0) loops frames through the middle on CPU 1 and back.
 *
 * - VPP middle: a private VPP with its main thread on CPU 1 (`cpu { main-core 1 }`, no workers),
 *   two memif slaves (ETHERNET mode, one queue each way) on A's sockets, l2 xconnect both ways,
 *   rx-mode polling; made for each window over our API client and deleted after it, so VPP is
 *   idle while ours runs.
 * - ours: two MemifPorts (clients, polling) joined by the native loop busy-polling on CPU 1.
 *
 * Mpps at 64 B and 1500 B, median of the windows, windows alternating; ratio = ours / VPP.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { VppClient } from "../../src/vpp/client.js";
import { launchVpp } from "../../src/vpp/launch.js";
import { testpmdAvailable } from "../../test/helpers/testpmd.js";
import { loopThrough, oursMiddle, type Middle } from "../memif-cases/loop.js";
import { median, type CaseResult } from "../lib.js";

const POLLING = 1; // rx_mode RX_MODE_API_POLLING
let shown = false;

/** The VPP middle over `vpp`: memif slaves on s1 and s2 in l2 xconnect; the stop undoes it all. */
const vppMiddle =
  (vpp: VppClient): Middle =>
  async (s1, s2) => {
    const undo: (() => Promise<unknown>)[] = [];
    const stop = async () => {
      for (const f of undo.reverse()) await f().catch(() => undefined);
    };
    try {
      const ifs: number[] = [];
      for (const sock of [s1, s2]) {
        const { socket_id } = await vpp.request("memif_socket_filename_add_del_v2", {
          is_add: true,
          socket_filename: sock,
        });
        undo.push(() => vpp.request("memif_socket_filename_add_del_v2", { is_add: false, socket_id }));
        const { sw_if_index } = await vpp.request("memif_create_v2", {
          role: 1,
          mode: 0,
          socket_id,
          id: 0,
          rx_queues: 1,
          tx_queues: 1,
          ring_size: 1024,
          buffer_size: 2048,
        });
        undo.push(() => vpp.request("memif_delete", { sw_if_index }));
        ifs.push(sw_if_index);
      }
      const [a, b] = ifs as [number, number];
      for (const [rx, tx] of [
        [a, b],
        [b, a],
      ] as const)
        await vpp.request("sw_interface_set_l2_xconnect", { rx_sw_if_index: rx, tx_sw_if_index: tx, enable: true });
      for (const i of ifs) {
        await vpp.request("sw_interface_set_rx_mode", { sw_if_index: i, mode: POLLING });
        await vpp.request("sw_interface_set_flags", { sw_if_index: i, flags: 1 });
        undo.push(() => vpp.request("sw_interface_set_flags", { sw_if_index: i, flags: 0 }));
      }
      return async () => {
        if (!shown) {
          shown = true; // once per run: where VPP polls the memif queues
          const { reply } = await vpp.request("cli_inband", { cmd: "show interface rx-placement" });
          console.log(`vpp memif: ${reply.replace(/\s+/g, " ").trim()}`);
        }
        await stop();
      };
    } catch (e) {
      await stop();
      throw e;
    }
  };

export async function memifCases(seconds = 2, reps = 3): Promise<CaseResult[]> {
  if (!testpmdAvailable()) {
    console.log("bench/vpp memif: skipped (no dpdk-testpmd or stdbuf)");
    return [];
  }
  const dir = mkdtempSync(join(tmpdir(), "nsm-bench-vpp-memif-"));
  const vpp = await launchVpp({ dir, extraConf: "cpu { main-core 1 }" });
  const results: CaseResult[] = [];
  try {
    const api = await VppClient.connect(vpp.apiSocket);
    try {
      const { reply } = await api.request("cli_inband", { cmd: "show threads" });
      console.log(`vpp memif: VPP threads:\n${reply.trimEnd()}`);
      for (const len of [64, 1500]) {
        const o: number[] = [],
          v: number[] = [],
          load: number[] = [];
        for (let i = 0; i < reps; i++) {
          load.push(loadavg()[0]!);
          v.push(await loopThrough(vppMiddle(api), len, seconds));
          o.push(await loopThrough(oursMiddle, len, seconds));
        }
        const fmt = (x: number[]) => x.map((n) => (n / 1e6).toFixed(2)).join("/");
        console.log(`vpp memif/${len}B windows: ours ${fmt(o)}, VPP ${fmt(v)} Mpps`);
        results.push({
          case: `memif↔memif ${len}B Mpps (median)`,
          ours: Number((median(o) / 1e6).toFixed(3)),
          baseline: Number((median(v) / 1e6).toFixed(3)),
          note: `Mpps; testpmd io (2 memif servers, CPU 0) ↔ [ours: 2 MemifPorts + native loop | VPP: 2 memif slaves, l2 xconnect, polling] on CPU 1; ${reps}×${seconds} s alternating; load ${load.map((l) => l.toFixed(2)).join(" ")}`,
        });
        // a busy-poll window's rate depends on how much CPU both loops got on the shared machine:
        // the best window of each is the nearest to the uncontended capacity (as bench/memif)
        results.push({
          case: `memif↔memif ${len}B Mpps (best window)`,
          ours: Number((Math.max(...o) / 1e6).toFixed(3)),
          baseline: Number((Math.max(...v) / 1e6).toFixed(3)),
          note: `best of ${reps} windows each`,
        });
      }
    } finally {
      await api.close();
    }
  } finally {
    await vpp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
