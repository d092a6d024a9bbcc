/**
 * The FLOW_MODs of one cross-connect (as upstream `sdk-ovs/pkg/networkservice/l2ovsconnect` installs them; table 0,
 * priority 100). Local: two ports E (endpoint side) and C (client side), optional VLAN V on E.
 * Remote: a local port L, a vxlan port T and a VNI N (the tunnel id), optional VLAN V on L.
 *
 *   await of.flowMods(xconnectFlows({ kind: "local", e: 3, c: 4 }));
 *   await of.flowMods(xconnectDeletes({ kind: "local", e: 3, c: 4 }));
 */
import type { FlowMod } from "./codec.js";

export type Xconnect =
  | { kind: "local"; e: number; c: number; vlan?: number }
  | { kind: "remote"; l: number; t: number; vni: number | bigint; vlan?: number };

const PRIORITY = 100;

function checkPort(p: number, what: string): void {
  // OVS accepts output to ports that do not exist (and to 0): validate here (checked against OVS 3.1)
  if (!Number.isInteger(p) || p < 1 || p > 0xfeff)
    throw new RangeError(`xconnect: ${what} ofport ${p} is not a valid port number (1..65279)`);
}

export function xconnectFlows(x: Xconnect): FlowMod[] {
  const v = x.vlan ?? 0;
  if (!Number.isInteger(v) || v < 0 || v > 4095) throw new RangeError(`xconnect: vlan ${v} is not in 0..4095`);
  const add = (match: FlowMod["match"], actions: FlowMod["actions"]): FlowMod => ({
    command: "add",
    tableId: 0,
    priority: PRIORITY,
    match,
    actions,
  });
  const push = v ? [{ type: "pushVlan" as const }, { type: "setField" as const, field: { vlanVid: v } }] : [];
  if (x.kind === "local") {
    checkPort(x.e, "E");
    checkPort(x.c, "C");
    return [
      add({ inPort: x.e, ...(v ? { vlanVid: v } : {}) }, [
        ...(v ? [{ type: "popVlan" as const }] : []),
        { type: "output", port: x.c },
      ]),
      add({ inPort: x.c }, [...push, { type: "output", port: x.e }]),
    ];
  }
  checkPort(x.l, "L");
  checkPort(x.t, "T");
  return [
    add({ inPort: x.l, ...(v ? { vlanVid: v } : {}) }, [
      ...(v ? [{ type: "popVlan" as const }] : []),
      { type: "setField", field: { tunnelId: BigInt(x.vni) } },
      { type: "output", port: x.t },
    ]),
    add({ inPort: x.t, tunnelId: BigInt(x.vni) }, [...push, { type: "output", port: x.l }]),
  ];
}

/** Non-strict deletes removing exactly what xconnectFlows installed (and anything more specific). */
export function xconnectDeletes(x: Xconnect): FlowMod[] {
  const v = x.vlan ?? 0;
  if (x.kind === "local") {
    return [
      { command: "delete", match: { inPort: x.e, ...(v ? { vlanVid: v } : {}) } },
      { command: "delete", match: { inPort: x.c } },
    ];
  }
  return [
    { command: "delete", match: { inPort: x.l, ...(v ? { vlanVid: v } : {}) } },
    { command: "delete", match: { inPort: x.t, tunnelId: BigInt(x.vni) } },
  ];
}
