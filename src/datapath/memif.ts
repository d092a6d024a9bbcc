/**
 * memif ports over the native addon: the memif control protocol (both roles), shared-memory
 * rings, and a native cross-connect loop. Interoperates with DPDK net_memif and VPP (see
 * docs/memif.md; the protocol is upstream `vpp/src/plugins/memif/memif.h`).
 *
 * ```ts
 * const port = MemifPort.open({ role: "server", socket: "/run/nsm/memif.sock" });
 * const link = await port.waitUp({ timeoutMs: 5000 });       // a client connected
 * port.send([frame]);                                          // Buffers in, copied to the ring
 * const got = await port.receive(1, { timeoutMs: 1000 });      // Buffers out
 * const xc = joinPorts(port, PacketPort.afPacket("veth0")); // native loop, no JS per packet
 * xc.stop(); port.close();
 * ```
 * The TS side validates and holds policy; the addon does syscalls and rings only.
 */
export type { MemifForwardStats, MemifPortStats } from "../native/memif.js";

export type { Connectable, MemifLink, MemifOptions, MemifRole, WaitOptions } from "./memif-common.js";
export { MemifPort } from "./memif-port.js";
export { PacketPort } from "./packet-port.js";
export { joinPorts, type JoinOptions, type PortJoin } from "./memif-join.js";

/** Test hook: a raw control-channel peer (see docs/memif.md). */
export { memifNative as _memifNative } from "../native/memif.js";
