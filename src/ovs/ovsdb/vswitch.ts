/**
 * Typed helpers over the Open_vSwitch schema (OVS 3.1, schema 8.3.1): bridges, ports,
 * interfaces, controllers, each change one atomic transaction, read back from a monitor replica
 * (no select round trips). With `wait` (default) a change resolves once ovs-vswitchd has applied
 * it (`cur_cfg` ≥ the `next_cfg` our transaction produced), like `ovs-vsctl` without `--no-wait`.
 *
 *   const vs = await Vswitch.open("unix:/var/run/openvswitch/db.sock");
 *   await vs.addBridge({ name: "br-nsm", datapathType: "netdev", protocols: ["OpenFlow13"] });
 *   await vs.addPort("br-nsm", { name: "v10002", type: "vxlan", options: { remote_ip: "10.0.0.2", key: "flow" } });
 *   const ofport = await vs.waitOfport("v10002");
 *   await vs.delPort("br-nsm", "v10002");
 *   vs.close();
 */
import { status } from "../../tools/errors.js";
import type { Logger } from "../../tools/log.js";
import { OvsdbClient, type OvsdbClientOptions } from "./client.js";
import { OvsdbError, OvsdbTransactionError } from "./errors.js";
import { op, type OpResult, type Operation } from "./ops.js";
import type { Replica } from "./replica.js";
import type { BridgeSpec, PortSpec, ChangeOptions, BridgeInfo, InterfaceInfo, PortInfo } from "./vswitch-types.js";
import { map, namedUuid, opt, set, uuid, type Atom, type Row, type WireRow } from "./values.js";

export const OVS_DB = "Open_vSwitch";

export type { BridgeSpec, PortSpec, ChangeOptions, BridgeInfo, InterfaceInfo, PortInfo } from "./vswitch-types.js";

const COLUMNS = {
  Open_vSwitch: [
    "bridges",
    "cur_cfg",
    "next_cfg",
    "ovs_version",
    "db_version",
    "datapath_types",
    "iface_types",
    "external_ids",
    "other_config",
  ],
  Bridge: [
    "name",
    "ports",
    "datapath_type",
    "datapath_id",
    "protocols",
    "fail_mode",
    "controller",
    "external_ids",
    "other_config",
  ],
  Port: ["name", "interfaces", "tag", "external_ids"],
  Interface: [
    "name",
    "type",
    "options",
    "ofport",
    "ofport_request",
    "error",
    "external_ids",
    "statistics",
    "mac_in_use",
    "link_state",
    "admin_state",
    "mtu",
    "ifindex",
  ],
  Controller: ["target", "is_connected"],
};

const strMap = (v: Row[string] | undefined): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries((v as Record<string, Atom> | undefined) ?? {})) out[k] = String(x);
  return out;
};
const numMap = (v: Row[string] | undefined): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries((v as Record<string, Atom> | undefined) ?? {})) out[k] = Number(x);
  return out;
};
const arr = (v: Row[string] | undefined): Atom[] => (Array.isArray(v) ? v : v === undefined ? [] : [v as Atom]);

export class Vswitch {
  private constructor(
    readonly db: OvsdbClient,
    readonly replica: Replica,
    private readonly ownsClient: boolean,
    readonly log?: Logger,
  ) {}

  /** Connects (or uses `client`) and monitors Open_vSwitch, Bridge, Port, Interface and Controller. */
  static async open(target: string | OvsdbClient, o: OvsdbClientOptions = {}): Promise<Vswitch> {
    const own = typeof target === "string";
    const db = own ? await OvsdbClient.connect(target, o) : target;
    try {
      const m = await db.monitor(
        OVS_DB,
        Object.fromEntries(Object.entries(COLUMNS).map(([t, columns]) => [t, { columns }])),
      );
      return new Vswitch(db, m.replica, own, o.log);
    } catch (e) {
      if (own) db.close();
      throw e;
    }
  }

  close(): void {
    if (this.ownsClient) this.db.close();
  }

  private root(): Row | undefined {
    return this.replica.rows("Open_vSwitch")[0];
  }
  get ovsVersion(): string | undefined {
    return opt<string>(this.root()?.ovs_version);
  }

  bridges(): BridgeInfo[] {
    return this.replica.rows("Bridge").map((r) => this.bridgeInfo(r));
  }
  bridge(name: string): BridgeInfo | undefined {
    const r = this.replica.find("Bridge", (b) => b.name === name);
    return r && this.bridgeInfo(r);
  }
  port(name: string): PortInfo | undefined {
    const r = this.replica.find("Port", (p) => p.name === name);
    return r && this.portInfo(r);
  }
  ports(bridge?: string): PortInfo[] {
    const all = this.replica.rows("Port").map((r) => this.portInfo(r));
    return bridge === undefined ? all : all.filter((p) => p.bridge === bridge);
  }
  interfaceByName(name: string): InterfaceInfo | undefined {
    const r = this.replica.find("Interface", (i) => i.name === name);
    return r && this.ifaceInfo(r);
  }

  private bridgeInfo(r: Row): BridgeInfo {
    return {
      uuid: r._uuid as string,
      name: r.name as string,
      datapathType: (r.datapath_type as string) ?? "",
      datapathId: opt<string>(r.datapath_id),
      protocols: arr(r.protocols).map(String),
      failMode: opt<string>(r.fail_mode),
      ports: arr(r.ports)
        .map((u) => this.replica.get("Port", String(u))?.name as string | undefined)
        .filter((n): n is string => n !== undefined),
      controller: arr(r.controller)
        .map((u) => this.replica.get("Controller", String(u))?.target as string | undefined)
        .filter((t): t is string => t !== undefined),
      externalIds: strMap(r.external_ids),
      otherConfig: strMap(r.other_config),
    };
  }
  private portInfo(r: Row): PortInfo {
    const id = r._uuid as string;
    const br = this.replica.find("Bridge", (b) => arr(b.ports).includes(id));
    return {
      uuid: id,
      name: r.name as string,
      bridge: br?.name as string | undefined,
      tag: opt<number>(r.tag),
      externalIds: strMap(r.external_ids),
      interfaces: arr(r.interfaces)
        .map((u) => this.replica.get("Interface", String(u)))
        .filter((x): x is Row => !!x)
        .map((i) => this.ifaceInfo(i)),
    };
  }
  private ifaceInfo(r: Row): InterfaceInfo {
    return {
      uuid: r._uuid as string,
      name: r.name as string,
      type: (r.type as string) ?? "",
      options: strMap(r.options),
      ofport: opt<number>(r.ofport),
      ofportRequest: opt<number>(r.ofport_request),
      error: opt<string>(r.error),
      externalIds: strMap(r.external_ids),
      statistics: numMap(r.statistics),
      macInUse: opt<string>(r.mac_in_use),
      linkState: opt<string>(r.link_state),
      adminState: opt<string>(r.admin_state),
      mtu: opt<number>(r.mtu),
      ifindex: opt<number>(r.ifindex),
    };
  }

  /**
   * Runs `ops` plus a `next_cfg` bump in one transaction; with `wait`, resolves once vswitchd
   * reports `cur_cfg` ≥ our `next_cfg`. Returns the results of `ops`.
   */
  async apply(ops: Operation[], o: ChangeOptions = {}): Promise<OpResult[]> {
    const wait = o.wait ?? true;
    const all = wait
      ? [...ops, op.mutate("Open_vSwitch", [], [["next_cfg", "+=", 1]]), op.select("Open_vSwitch", [], ["next_cfg"])]
      : ops;
    const res = await this.db.transact(OVS_DB, all, o.signal ? { signal: o.signal } : {});
    if (wait) {
      const cfg = Number(res[res.length - 1]!.rows![0]!.next_cfg);
      await this.waitApplied(cfg, o);
    }
    return res.slice(0, ops.length);
  }

  /** Resolves when ovs-vswitchd has applied configuration `cfg` (Open_vSwitch.cur_cfg ≥ cfg). */
  waitApplied(cfg: number, o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<number> {
    return this.replica.waitFor(
      () => {
        const cur = Number(this.root()?.cur_cfg ?? 0);
        return cur >= cfg ? cur : undefined;
      },
      {
        timeoutMs: o.timeoutMs ?? 10_000,
        what: `ovs-vswitchd applying next_cfg ${cfg} (is it running?)`,
        ...(o.signal ? { signal: o.signal } : {}),
      },
    );
  }

  /** `ovs-vsctl add-br` in one transaction: the bridge, its local internal port, its controllers. */
  async addBridge(spec: BridgeSpec, o: ChangeOptions = {}): Promise<BridgeInfo> {
    const existing = this.bridge(spec.name);
    if (existing) {
      if (spec.mayExist) return existing;
      throw new OvsdbError(status.ALREADY_EXISTS, `ovsdb: bridge "${spec.name}" already exists`);
    }
    const ops: Operation[] = [
      op.insert("Interface", { name: spec.name, type: "internal" }, "iface"),
      op.insert("Port", { name: spec.name, interfaces: namedUuid("iface") }, "port"),
    ];
    const ctl = spec.controller ?? [];
    ctl.forEach((target, i) => ops.push(op.insert("Controller", { target }, `ctl${i}`)));
    const row: WireRow = { name: spec.name, ports: namedUuid("port") };
    if (spec.datapathType !== undefined) row.datapath_type = spec.datapathType;
    if (spec.protocols) row.protocols = set(spec.protocols);
    if (spec.failMode) row.fail_mode = spec.failMode;
    if (ctl.length) row.controller = set(ctl.map((_, i) => namedUuid(`ctl${i}`)));
    if (spec.externalIds) row.external_ids = map(spec.externalIds);
    if (spec.otherConfig) row.other_config = map(spec.otherConfig);
    ops.push(op.insert("Bridge", row, "br"));
    ops.push(op.mutate("Open_vSwitch", [], [["bridges", "insert", set([namedUuid("br")])]]));
    try {
      await this.apply(ops, o);
    } catch (e) {
      if (spec.mayExist && e instanceof OvsdbTransactionError && this.bridge(spec.name)) return this.bridge(spec.name)!;
      throw e;
    }
    return this.replica.waitFor(() => this.bridge(spec.name), {
      timeoutMs: 5_000,
      what: `bridge "${spec.name}" in the replica`,
    });
  }

  /** `ovs-vsctl del-br`: drops the bridge from Open_vSwitch.bridges; its ports go with it. */
  async delBridge(name: string, o: ChangeOptions & { ifExists?: boolean } = {}): Promise<void> {
    const br = this.bridge(name);
    if (!br) {
      if (o.ifExists) return;
      throw new OvsdbError(status.NOT_FOUND, `ovsdb: no bridge "${name}"`);
    }
    await this.apply([op.mutate("Open_vSwitch", [], [["bridges", "delete", set([uuid(br.uuid)])]])], o);
  }

  /**
   * `ovs-vsctl add-port` in one transaction. Fails with NOT_FOUND naming the bridge when it does
   * not exist (nothing is written). The returned port's interface may not have its ofport yet
   * with `wait: false`; `waitOfport(name)` waits for it.
   */
  async addPort(bridge: string, spec: PortSpec, o: ChangeOptions = {}): Promise<PortInfo> {
    const existing = this.port(spec.name);
    if (existing && spec.mayExist && existing.bridge === bridge) return existing;
    const iface: WireRow = { name: spec.name };
    if (spec.type !== undefined) iface.type = spec.type;
    if (spec.options) iface.options = map(spec.options);
    if (spec.externalIds) iface.external_ids = map(spec.externalIds);
    if (spec.ofportRequest !== undefined) iface.ofport_request = spec.ofportRequest;
    if (spec.mtuRequest !== undefined) iface.mtu_request = spec.mtuRequest;
    const port: WireRow = { name: spec.name, interfaces: namedUuid("iface") };
    if (spec.tag !== undefined) port.tag = spec.tag;
    if (spec.externalIds) port.external_ids = map(spec.externalIds);
    const ops: Operation[] = [
      // the bridge must exist: otherwise the new Port would be garbage-collected silently
      op.wait("Bridge", [["name", "==", bridge]], ["name"], "==", [{ name: bridge }], 0),
      op.insert("Interface", iface, "iface"),
      op.insert("Port", port, "port"),
      op.mutate("Bridge", [["name", "==", bridge]], [["ports", "insert", set([namedUuid("port")])]]),
    ];
    try {
      await this.apply(ops, o);
    } catch (e) {
      if (e instanceof OvsdbTransactionError && e.index === 0 && e.error === "timed out") {
        throw new OvsdbError(status.NOT_FOUND, `ovsdb add-port "${spec.name}": no bridge "${bridge}"`, { cause: e });
      }
      if (spec.mayExist && e instanceof OvsdbTransactionError && this.port(spec.name)?.bridge === bridge)
        return this.port(spec.name)!;
      throw e;
    }
    return this.replica.waitFor(
      () => {
        const p = this.port(spec.name);
        return p && p.bridge === bridge && p.interfaces.length ? p : undefined;
      },
      { timeoutMs: 5_000, what: `port "${spec.name}" in the replica` },
    );
  }

  /** `ovs-vsctl del-port`: removes the port from the bridge; Port and Interface rows are garbage-collected. */
  async delPort(bridge: string, name: string, o: ChangeOptions & { ifExists?: boolean } = {}): Promise<void> {
    const p = this.port(name);
    if (!p || p.bridge !== bridge) {
      if (o.ifExists) return;
      throw new OvsdbError(
        status.NOT_FOUND,
        `ovsdb del-port: no port "${name}" on bridge "${bridge}"${p?.bridge ? ` (it is on "${p.bridge}")` : ""}`,
      );
    }
    await this.apply([op.mutate("Bridge", [["name", "==", bridge]], [["ports", "delete", set([uuid(p.uuid)])]])], o);
  }

  /** Replaces the bridge's controllers (`ovs-vsctl set-controller`; no targets = `del-controller`). */
  async setController(bridge: string, targets: string[], o: ChangeOptions = {}): Promise<void> {
    if (!this.bridge(bridge)) throw new OvsdbError(status.NOT_FOUND, `ovsdb set-controller: no bridge "${bridge}"`);
    const ops: Operation[] = targets.map((target, i) => op.insert("Controller", { target }, `ctl${i}`));
    ops.push(
      op.update("Bridge", [["name", "==", bridge]], { controller: set(targets.map((_, i) => namedUuid(`ctl${i}`))) }),
    );
    await this.apply(ops, o);
  }

  /** Sets keys of Open_vSwitch.other_config (e.g. `{ "userspace-tso-enable": "true" }`). */
  async setOtherConfig(kv: Record<string, string>, o: ChangeOptions = {}): Promise<void> {
    await this.apply(
      [
        op.mutate(
          "Open_vSwitch",
          [],
          [
            ["other_config", "delete", set(Object.keys(kv))],
            ["other_config", "insert", map(kv)],
          ],
        ),
      ],
      o,
    );
  }

  /**
   * Waits for vswitchd to give interface `name` an OpenFlow port number (from the monitor, no
   * polling). Rejects with FAILED_PRECONDITION carrying Interface.error when it got -1, and with
   * DEADLINE_EXCEEDED after `timeoutMs` (default 10 000).
   */
  waitOfport(name: string, o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<number> {
    return this.replica.waitFor(
      () => {
        const i = this.interfaceByName(name);
        if (i?.ofport === -1)
          throw new OvsdbError(
            status.FAILED_PRECONDITION,
            `ovsdb: interface "${name}" got no ofport: ${i.error ?? "no error reported"}`,
          );
        return i?.ofport !== undefined && i.ofport > 0 ? i.ofport : undefined;
      },
      {
        timeoutMs: o.timeoutMs ?? 10_000,
        what: `ofport of interface "${name}"`,
        ...(o.signal ? { signal: o.signal } : {}),
      },
    );
  }
}
