/**
 * Getting the OVS bridge ready at start: userspace TSO on, the bridge on the `netdev` datapath
 * (OpenFlow 1.3, fail_mode secure), the uplink attached, and ports a previous run of ours left
 * removed (their veths with them).
 */
import type { Netns } from "../../../datapath/netns.js";
import type { Vswitch } from "../../../ovs/ovsdb/index.js";
import type { Logger } from "../../../tools/log.js";
import { CONN_KEY, VXLAN_KEY } from "./types.js";

/** Makes sure `bridge` exists as we need it; warns about settings that only a vswitchd restart applies. */
export async function prepareBridge(vs: Vswitch, bridge: string, tso: boolean, log: Logger): Promise<void> {
  if (tso) {
    const cur = vs.replica.rows("Open_vSwitch")[0]?.other_config as Record<string, string> | undefined;
    if (cur?.["userspace-tso-enable"] !== "true") {
      await vs.setOtherConfig({ "userspace-tso-enable": "true" }, { wait: false });
      log.warn(
        "set other_config:userspace-tso-enable=true: TCP through veth ports needs it; ovs-vswitchd reads it at its next start",
      );
    }
  }
  await vs.addBridge({
    name: bridge,
    datapathType: "netdev",
    protocols: ["OpenFlow13"],
    failMode: "secure",
    mayExist: true,
  });
  const br = vs.bridge(bridge)!;
  if (br.datapathType !== "netdev")
    log.warn({ bridge, datapathType: br.datapathType }, "the bridge exists with another datapath type");
}

/** Removes the ports (and veths) of ours that a previous run left on `bridge`. */
export async function removeLeftovers(host: Netns, vs: Vswitch, bridge: string, log: Logger): Promise<void> {
  for (const p of vs.ports(bridge)) {
    const id = p.externalIds[CONN_KEY];
    if (id === undefined && p.externalIds[VXLAN_KEY] === undefined) continue;
    log.info({ port: p.name, connId: id }, "ovs datapath: removing a port left by a previous run");
    await vs.delPort(bridge, p.name, { ifExists: true, wait: false });
    if (id !== undefined) await host.linkDel(p.name).catch(() => undefined);
  }
}

/**
 * Makes `uplink` a port of the bridge and moves its addresses (and the default route through it)
 * to the bridge's own interface, so the userspace datapath can send vxlan packets (it routes
 * them only through OVS bridge interfaces). Idempotent. Returns the tunnel IP.
 */
export async function attachUplink(
  host: Netns,
  vs: Vswitch,
  bridge: string,
  uplink: string,
  want: string | undefined,
  log: Logger,
): Promise<string | undefined> {
  const already = vs.port(uplink)?.bridge === bridge;
  const addrs = (await host.addrs({ link: uplink })).filter((a) => a.scope === 0);
  const routes = (await host.routes({})).filter((r) => r.dev === uplink && r.via);
  const link = await host.linkByName(uplink);
  if (!already) {
    await vs.addPort(bridge, { name: uplink, mayExist: true });
    await vs.waitOfport(uplink);
  }
  await vs.waitOfport(bridge);
  if (addrs.length) {
    const b = host.batch();
    if (link.attrs.mtu) b.linkSetMtu(bridge, link.attrs.mtu);
    b.linkSetUp(bridge);
    for (const a of addrs) b.addrDel({ link: uplink, cidr: a.cidr });
    for (const a of addrs) b.addrReplace({ link: bridge, cidr: a.cidr });
    for (const r of routes) b.routeReplace({ dst: r.dst, via: r.via, dev: bridge });
    await b.commit();
    log.info(
      { uplink, bridge, addrs: addrs.map((a) => a.cidr) },
      "ovs datapath: uplink attached, its addresses moved to the bridge",
    );
  } else {
    await host.linkSet(bridge, { up: true });
  }
  const ips = (await host.addrs({ link: bridge, family: 4 })).map((a) => a.cidr.split("/")[0]!);
  return want ?? ips[0];
}
