/** {@link PacketPort}: AF_PACKET, tap or null ports to cross-connect with memif (see memif.ts). */
import { DatapathError } from "./errors.js";
import { memifNative, type MemifPortStats } from "../native/memif.js";
import { wrap, type Connectable } from "./memif-common.js";

/** A non-memif port for cross-connects: AF_PACKET on a link, a tap device, or a benchmark null port. */
export class PacketPort implements Connectable {
  #closed = false;
  private constructor(
    readonly handle: number,
    readonly description: string,
  ) {}

  /** Raw AF_PACKET socket bound to `ifname` (e.g. a veth end), in `netns` if given. Root only. */
  static afPacket(ifname: string, o: { netns?: string } = {}): PacketPort {
    return PacketPort.#open(
      { kind: "afpacket", ifname, ...(o.netns ? { netns: o.netns } : {}) },
      `afpacket ${ifname}`,
      o.netns,
    );
  }

  /** Creates (or attaches to) tap device `ifname` (IFF_TAP|IFF_NO_PI), in `netns` if given; it goes away on close. Root only. */
  static tap(ifname: string, o: { netns?: string } = {}): PacketPort {
    return PacketPort.#open({ kind: "tap", ifname, ...(o.netns ? { netns: o.netns } : {}) }, `tap ${ifname}`, o.netns);
  }

  /** Drops what it is sent; with `frameLen` > 0 it also emits an endless stream of UDP frames of that size (like testpmd txonly). */
  static null(o: { frameLen?: number } = {}): PacketPort {
    const frameLen = o.frameLen ?? 0;
    if (!Number.isInteger(frameLen) || frameLen < 0 || frameLen > 9000)
      throw DatapathError.invalid(`null port: frameLen ${frameLen} is not in 0..9000`);
    return new PacketPort(memifNative.packetPortOpen({ kind: "null", frameLen }), `null(${frameLen})`);
  }

  static #open(
    spec: { kind: "afpacket" | "tap"; ifname: string; netns?: string },
    what: string,
    netns: string | undefined,
  ): PacketPort {
    if (!spec.ifname || Buffer.byteLength(spec.ifname) > 15)
      throw DatapathError.invalid(`${spec.kind}: ifname "${spec.ifname}" is empty or longer than 15 bytes`, {
        path: spec.ifname,
      });
    try {
      return new PacketPort(memifNative.packetPortOpen(spec), what);
    } catch (e) {
      throw wrap(e, `open ${what}`, netns ?? "current netns");
    }
  }

  get closed(): boolean {
    return this.#closed;
  }
  stats(): MemifPortStats {
    return memifNative.stats(this.handle);
  }
  /** Idempotent; stops a cross-connect using it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    memifNative.close(this.handle);
  }
}
