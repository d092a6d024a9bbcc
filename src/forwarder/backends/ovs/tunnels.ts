/**
 * The OVS backend's vxlan ports: one per remote node (`key=flow`: the VNI goes in the flows),
 * shared by every connection to that node, created by its first user and deleted with its last.
 */
import { isIPv4 } from "node:net";
import { kernel } from "../../../api/index.js";
import type { Ctx } from "../../../core/index.js";
import { VXLAN_KEY, type OvsEnv } from "./types.js";

/** upstream: `v` + the remote IPv4 without dots (≤ 15 bytes); a hash for IPv6 */
export const vxlanPortName = (ip: string): string =>
  isIPv4(ip) ? `v${ip.replaceAll(".", "")}` : kernel.ifname("v", ip);

export class VxlanPorts {
  /** port name → users (connection ids) and the pending create (its ofport) */
  private readonly ports = new Map<string, { users: Set<string>; ready: Promise<number> }>();

  constructor(private readonly env: OvsEnv) {}

  /** The shared vxlan port toward `peerIp` (remote UDP port `port`) for connection `id`. */
  async use(id: string, peerIp: string, port: number, ctx: Ctx): Promise<{ name: string; ofport: number }> {
    const { vs, bridge, tunnelIp } = this.env;
    if (!tunnelIp) throw new Error("no tunnel IP (set NSM_TUNNEL_IP)");
    const name = vxlanPortName(peerIp);
    let t = this.ports.get(name);
    if (!t) {
      const ready = (async () => {
        await vs.addPort(
          bridge,
          {
            name,
            type: "vxlan",
            mayExist: true,
            externalIds: { [VXLAN_KEY]: peerIp },
            options: { local_ip: tunnelIp, remote_ip: peerIp, dst_port: String(port), key: "flow" },
          },
          { signal: ctx.signal },
        );
        return vs.waitOfport(name, { timeoutMs: 10_000 });
      })();
      const entry = { users: new Set<string>(), ready };
      t = entry;
      this.ports.set(name, entry);
      ready.catch(() => {
        if (this.ports.get(name) === entry && !entry.users.size) this.ports.delete(name);
      });
    }
    t.users.add(id);
    try {
      return { name, ofport: await t.ready };
    } catch (e) {
      t.users.delete(id);
      throw e;
    }
  }

  /** Connection `id` no longer uses port `name`; the last user deletes it. */
  async release(id: string, name: string): Promise<void> {
    const t = this.ports.get(name);
    if (!t) return;
    t.users.delete(id);
    if (t.users.size) return;
    this.ports.delete(name);
    await this.env.vs.delPort(this.env.bridge, name, { ifExists: true, wait: false });
  }

  /** After a vswitchd restart: reads every port's ofport again (`ofportOf` starts the read). */
  reread(ofportOf: (name: string) => Promise<number>): void {
    for (const [name, t] of this.ports) {
      const ready = ofportOf(name);
      ready.catch(() => undefined); // awaited by the next user or the resync; never an unhandled rejection
      t.ready = ready;
    }
  }

  /** The pending or known ofport of port `name`, if we hold it. */
  ofport(name: string): Promise<number> | undefined {
    return this.ports.get(name)?.ready;
  }
}
