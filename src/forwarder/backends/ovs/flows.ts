/**
 * The OVS backend's OpenFlow rules, over our own OpenFlow 1.3 session: two rules per connection
 * (as upstream sdk-ovs installs them, see src/ovs/openflow/xconnect.ts), plus two underlay rules
 * uplink ↔ LOCAL when an uplink is attached (what upstream does for its L2 bridges). Everything
 * goes through one queue, so a resync never races a remove. A new OpenFlow session
 * (ovs-vswitchd restarted: its flows are gone) reads the ofports back from OVSDB and installs
 * every live connection's rules again, no Request needed.
 */
import {
  OFPP,
  xconnectDeletes,
  xconnectFlows,
  type FlowMod,
  type OpenFlowClient,
  type Xconnect,
} from "../../../ovs/openflow/index.js";
import type { Vswitch } from "../../../ovs/ovsdb/index.js";
import type { Logger } from "../../../tools/log.js";
import type { VxlanPorts } from "./tunnels.js";
import type { OvsRecord } from "./types.js";

const UNDERLAY_PRIORITY = 1;

const xcOf = (r: OvsRecord): Xconnect =>
  r.kind === "local"
    ? { kind: "local", e: r.dst!.ofport, c: r.src!.ofport }
    : { kind: "remote", l: (r.src ?? r.dst)!.ofport, t: r.tunnel!.ofport, vni: r.tunnel!.vni };

/** The OpenFlow rules of one connection, as installed. */
export const flowsOf = (r: OvsRecord): FlowMod[] => xconnectFlows(xcOf(r));

export class OvsFlows {
  /** how many times all flows were installed again after a new OpenFlow session */
  resyncs = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly of: OpenFlowClient,
    private readonly vs: Vswitch,
    private readonly log: Logger,
    /** the uplink port (name and ofport), when one is attached */
    private readonly uplink: { name: string; ofport: number } | undefined,
  ) {}

  /** Starts clean: a fresh bridge has no flows (fail_mode secure), an old one may have anyone's (upstream: del-flows). */
  start(): Promise<void> {
    return this.serial(() => this.of.flowMods([{ command: "delete", tableId: 0xff }, ...this.underlay()]));
  }

  install(r: OvsRecord): Promise<void> {
    return this.serial(() => this.of.flowMods(flowsOf(r)));
  }

  remove(r: OvsRecord): Promise<void> {
    return this.serial(() => this.of.flowMods(xconnectDeletes(xcOf(r))));
  }

  /** After a new OpenFlow session: read the ofports back, install everything again. */
  resync(live: Iterable<OvsRecord>, tunnels: VxlanPorts): Promise<void> {
    return this.serial(async () => {
      const ofp = (name: string) => this.vs.waitOfport(name, { timeoutMs: 10_000 });
      if (this.uplink) this.uplink.ofport = await ofp(this.uplink.name);
      tunnels.reread(ofp);
      const mods: FlowMod[] = [{ command: "delete", tableId: 0xff }, ...this.underlay()];
      let n = 0;
      for (const r of live) {
        n++;
        try {
          if (r.src) r.src.ofport = await ofp(r.src.port);
          if (r.dst) r.dst.ofport = await ofp(r.dst.port);
          if (r.tunnel) r.tunnel.ofport = await (tunnels.ofport(r.tunnel.port) ?? ofp(r.tunnel.port));
          mods.push(...flowsOf(r));
        } catch (e) {
          this.log.warn(
            { connId: r.id, err: (e as Error).message },
            "ovs datapath: cannot reinstall the connection's flows",
          );
        }
      }
      await this.of.flowMods(mods);
      this.resyncs++;
      this.log.info(
        { connections: n },
        "ovs datapath: OpenFlow session is new (ovs-vswitchd restarted?): flows reinstalled",
      );
    });
  }

  /** Resolves when the queue is empty. */
  async idle(): Promise<void> {
    await this.queue.catch(() => undefined);
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private underlay(): FlowMod[] {
    if (!this.uplink) return [];
    const up = this.uplink.ofport;
    const rule = (inPort: number, port: number): FlowMod => ({
      command: "add",
      tableId: 0,
      priority: UNDERLAY_PRIORITY,
      match: { inPort },
      actions: [{ type: "output", port }],
    });
    return [rule(up, OFPP.LOCAL), rule(OFPP.LOCAL, up)];
  }
}
