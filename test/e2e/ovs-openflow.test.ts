// Root only: our OpenFlow 1.3 client against a private ovs-vswitchd (test/helpers/ovs.ts);
// `ovs-ofctl -O OpenFlow13` on the same bridge is the independent check. The traffic test pings
// between two namespaces whose veths are ports of a netdev bridge, through our flows only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { status } from "../../src/tools/errors.js";
import {
  OFPP,
  OpenFlowClient,
  OpenFlowError,
  xconnectDeletes,
  xconnectFlows,
  type FlowMod,
} from "../../src/ovs/openflow/index.js";
import { Vswitch } from "../../src/ovs/ovsdb/index.js";
import { ovsAvailable, startOvs, type OvsInstance } from "../helpers/ovs.js";

const root = process.getuid?.() === 0;
const skip = !root ? "needs root (netns, ovs-vswitchd)" : !ovsAvailable() ? "openvswitch-switch not installed" : false;
let n = 0;
const uniq = (): string => `t-${process.pid}-${n++}`;
const ip = (...args: string[]): string =>
  execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

interface Rig {
  ovs: OvsInstance;
  vs: Vswitch;
  of: OpenFlowClient;
  br: string;
}

async function rig(
  t: { after(f: () => unknown): void },
  o: { protocols?: string[]; connect?: boolean } = {},
): Promise<Rig> {
  const ovs = await startOvs();
  t.after(() => ovs.stop());
  const vs = await Vswitch.open(ovs.dbTarget);
  t.after(() => vs.close());
  const br = `tb${n++}`;
  await vs.addBridge({
    name: br,
    datapathType: "netdev",
    protocols: o.protocols ?? ["OpenFlow13"],
    failMode: "secure",
  });
  let of!: OpenFlowClient;
  if (o.connect ?? true) {
    of = await OpenFlowClient.connect(`unix:${ovs.mgmt(br)}`, { timeoutMs: 5_000 });
    t.after(() => of.close());
  }
  return { ovs, vs, of, br };
}

const dumpFlows = (r: Rig): string[] =>
  r.ovs
    .ofctl("dump-flows", r.br, "--no-stats")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("OFPST"));

test(
  "openflow: HELLO negotiation, FEATURES (datapath id = OVSDB's), ECHO, BARRIER",
  { skip, timeout: 30_000 },
  async (t) => {
    const r = await rig(t);
    assert.equal(r.of.features.datapathId, r.vs.bridge(r.br)!.datapathId);
    assert.ok(r.of.features.nTables >= 1);
    assert.ok((await r.of.echo(Buffer.from("ping"))) >= 0);
    await r.of.barrier();
    // default protocols (empty set): OVS sends a bare 1.5 HELLO; we still get 1.3
    await r.vs.addBridge({ name: `${r.br}d`, datapathType: "netdev" });
    const of2 = await OpenFlowClient.connect(`unix:${r.ovs.mgmt(`${r.br}d`)}`, { timeoutMs: 5_000 });
    t.after(() => of2.close());
    assert.equal(of2.features.datapathId, r.vs.bridge(`${r.br}d`)!.datapathId);
  },
);

test(
  "openflow: a bridge without OpenFlow13 is refused with a named version error",
  { skip, timeout: 30_000 },
  async (t) => {
    const r = await rig(t, { protocols: ["OpenFlow10"], connect: false });
    await assert.rejects(
      OpenFlowClient.connect(`unix:${r.ovs.mgmt(r.br)}`, { timeoutMs: 5_000 }),
      (e: OpenFlowError) => {
        assert.equal(e.typeName, "HELLO_FAILED");
        assert.match(e.message, /HELLO_FAILED\/INCOMPATIBLE|no common version/);
        return true;
      },
    );
  },
);

test(
  "openflow: flow add / modify / delete as ovs-ofctl dump-flows sees them; flow stats decode",
  { skip, timeout: 30_000 },
  async (t) => {
    const r = await rig(t);
    const p1 = await r.vs.addPort(r.br, { name: `${r.br}p1`, type: "internal" });
    const p2 = await r.vs.addPort(r.br, { name: `${r.br}p2`, type: "internal" });
    const a = p1.interfaces[0]!.ofport!,
      b = p2.interfaces[0]!.ofport!;
    await r.of.flowMods([{ command: "delete" }]); // drop whatever a new bridge has
    assert.deepEqual(dumpFlows(r), []);

    await r.of.flowMods([
      { command: "add", priority: 100, match: { inPort: a }, actions: [{ type: "output", port: b }] },
      { command: "add", priority: 100, match: { inPort: b }, actions: [{ type: "output", port: a }] },
      {
        command: "add",
        priority: 200,
        cookie: 0x2an,
        match: { inPort: a, ethType: 0x0800, ipv4Dst: "10.9.0.0/16" },
        actions: [
          { type: "setField", field: { ethDst: "02:00:00:00:00:09" } },
          { type: "output", port: b },
        ],
      },
      {
        command: "add",
        priority: 100,
        match: { inPort: a, vlanVid: 100 },
        actions: [{ type: "popVlan" }, { type: "output", port: b }],
      },
      {
        command: "add",
        priority: 100,
        match: { inPort: b, tunnelId: 42 },
        actions: [{ type: "pushVlan" }, { type: "setField", field: { vlanVid: 100 } }, { type: "output", port: a }],
      },
    ]);
    const flows = dumpFlows(r);
    assert.ok(flows.includes(`priority=100,in_port=${a} actions=output:${b}`), flows.join("\n"));
    assert.ok(flows.includes(`priority=100,in_port=${b} actions=output:${a}`), flows.join("\n"));
    assert.ok(
      flows.some(
        (f) =>
          f.includes("cookie=0x2a") &&
          f.includes(
            `priority=200,ip,in_port=${a},nw_dst=10.9.0.0/16 actions=set_field:02:00:00:00:00:09->eth_dst,output:${b}`,
          ),
      ),
      flows.join("\n"),
    );
    assert.ok(flows.includes(`priority=100,in_port=${a},dl_vlan=100 actions=pop_vlan,output:${b}`), flows.join("\n"));
    assert.ok(
      flows.includes(
        `priority=100,tun_id=0x2a,in_port=${b} actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:${a}`,
      ),
      flows.join("\n"),
    );

    const stats = await r.of.flowStats();
    assert.equal(stats.length, 5);
    const ip4 = stats.find((s) => s.priority === 200)!;
    assert.deepEqual(ip4.match, { inPort: a, ethType: 0x0800, ipv4Dst: "10.9.0.0/16" });
    assert.equal(ip4.cookie, 0x2an);
    assert.deepEqual(ip4.actions[1], { type: "output", port: b, maxLen: 0 });
    assert.equal((await r.of.flowStats({ match: { inPort: b } })).length, 2);

    // modify strict: only the flow with exactly this match and priority gets the new actions
    await r.of.flowMod({
      command: "modifyStrict",
      priority: 100,
      match: { inPort: b },
      actions: [{ type: "output", port: OFPP.LOCAL }],
    });
    assert.ok(dumpFlows(r).includes(`priority=100,in_port=${b} actions=LOCAL`), dumpFlows(r).join("\n"));
    assert.ok(dumpFlows(r).some((f) => f.startsWith(`priority=100,tun_id=0x2a,in_port=${b} actions=push_vlan`)));
    // modify (non-strict): every flow whose match is at least as specific (in_port=a: three flows)
    await r.of.flowMod({ command: "modify", match: { inPort: a }, actions: [{ type: "output", port: OFPP.LOCAL }] });
    assert.equal(
      dumpFlows(r).filter((f) => f.includes(`in_port=${a}`) && f.endsWith("actions=LOCAL")).length,
      3,
      dumpFlows(r).join("\n"),
    );
    // strict delete of one flow, then non-strict delete of in_port=a (takes the vlan and ip flows too)
    await r.of.flowMod({ command: "deleteStrict", priority: 100, match: { inPort: b } });
    assert.equal(dumpFlows(r).filter((f) => f.startsWith(`priority=100,in_port=${b} `)).length, 0);
    await r.of.flowMod({ command: "delete", match: { inPort: a } });
    assert.deepEqual(dumpFlows(r), [
      `priority=100,tun_id=0x2a,in_port=${b} actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:${a}`,
    ]);
    await r.of.flowMod({ command: "delete", cookie: 0n, cookieMask: 0n });
    assert.deepEqual(dumpFlows(r), []);
  },
);

test(
  "openflow: switch errors come back decoded and name the failing flow-mod; the others apply",
  { skip, timeout: 30_000 },
  async (t) => {
    const r = await rig(t);
    await r.of.flowMods([{ command: "delete" }]);
    await assert.rejects(
      r.of.flowMod({ command: "add", tableId: 0xff, match: { inPort: 1 }, actions: [{ type: "output", port: 2 }] }),
      (e: OpenFlowError) => {
        assert.equal(e.typeName, "FLOW_MOD_FAILED");
        assert.equal(e.codeName, "BAD_TABLE_ID");
        assert.equal(e.code, status.FAILED_PRECONDITION);
        assert.match(e.message, /flow-mod 1\/1 add .*FLOW_MOD_FAILED\/BAD_TABLE_ID \(for FLOW_MOD\)/);
        assert.equal(e.data!.readUInt8(1), 14); // the offending FLOW_MOD comes back in data
        return true;
      },
    );
    const batch: FlowMod[] = [
      { command: "add", priority: 100, match: { inPort: 1 }, actions: [{ type: "output", port: 2 }] },
      {
        command: "add",
        priority: 100,
        match: { inPort: 2 },
        actions: [{ type: "popVlan" }, { type: "output", port: 1 }],
      },
      { command: "add", priority: 100, match: { ipv4Dst: "10.0.0.1" }, actions: [{ type: "output", port: 1 }] },
      { command: "add", priority: 100, match: { inPort: 3 }, actions: [{ type: "output", port: 0xffffff00 }] },
    ];
    await assert.rejects(r.of.flowMods(batch), (e: OpenFlowError) => {
      assert.match(e.message, /flow-mod 2\/4 add .*BAD_ACTION\/MATCH_INCONSISTENT/);
      assert.deepEqual(e.failed, [1, 2, 3]);
      return true;
    });
    assert.deepEqual(dumpFlows(r), ["priority=100,in_port=1 actions=output:2"]);
    // the session is still usable
    await r.of.barrier();
    await assert.rejects(
      r.of.flowMod({ command: "add", match: { ipv4Src: "10.0.0.1" }, actions: [] }),
      (e: OpenFlowError) => e.typeName === "BAD_MATCH" && e.codeName === "BAD_PREREQ",
    );
  },
);

test("openflow: port stats and port desc for every port, LOCAL included", { skip, timeout: 30_000 }, async (t) => {
  const r = await rig(t);
  const p = await r.vs.addPort(r.br, { name: `${r.br}p1`, type: "internal" });
  const ofport = p.interfaces[0]!.ofport!;
  const all = await r.of.portStats();
  assert.deepEqual(all.map((s) => s.portNo).sort(), [ofport, OFPP.LOCAL].sort());
  const one = await r.of.portStats(ofport);
  assert.equal(one.length, 1);
  assert.equal(one[0]!.portNo, ofport);
  assert.equal(typeof one[0]!.txPackets, "number");
  const desc = await r.of.portDesc();
  assert.deepEqual(
    desc.map((d) => [d.portNo, d.name]).sort(),
    [
      [ofport, `${r.br}p1`],
      [OFPP.LOCAL, r.br],
    ].sort(),
  );
  assert.equal(desc.find((d) => d.portNo === ofport)!.hwAddr, r.vs.interfaceByName(`${r.br}p1`)!.macInUse);
});

test(
  "openflow: a passive punix: Controller target works like the .mgmt socket",
  { skip, timeout: 30_000 },
  async (t) => {
    const r = await rig(t, { connect: false });
    const path = join(r.ovs.dir, `${r.br}.ctl`);
    await r.vs.setController(r.br, [`punix:${path}`]);
    const of = await OpenFlowClient.connect(`unix:${path}`, { timeoutMs: 5_000 });
    t.after(() => of.close());
    assert.equal(of.features.datapathId, r.vs.bridge(r.br)!.datapathId);
    await of.flowMod({ command: "add", priority: 7, match: { inPort: 1 }, actions: [{ type: "output", port: 2 }] });
    assert.ok(dumpFlows(r).includes("priority=7,in_port=1 actions=output:2"));
  },
);

test(
  "openflow: after ovs-vswitchd restarts, the client reconnects and can reinstall its flows",
  { skip, timeout: 40_000 },
  async (t) => {
    const r = await rig(t, { connect: false });
    const of = await OpenFlowClient.connect(`unix:${r.ovs.mgmt(r.br)}`, {
      timeoutMs: 5_000,
      reconnect: true,
      backoffMs: { min: 20, max: 200 },
    });
    t.after(() => of.close());
    const flows: FlowMod[] = [
      { command: "add", priority: 100, match: { inPort: 1 }, actions: [{ type: "output", port: 2 }] },
    ];
    let reinstalled = 0;
    const done = new Promise<void>((resolve, reject) => {
      of.on("connected", () => {
        of.flowMods(flows).then(() => {
          reinstalled++;
          resolve();
        }, reject);
      });
    });
    await of.flowMods(flows);
    const lost = new Promise((resolve) => of.on("disconnected", resolve));
    await r.ovs.restartVswitchd();
    await lost;
    await done;
    assert.equal(reinstalled, 1);
    assert.ok(dumpFlows(r).includes("priority=100,in_port=1 actions=output:2"), dumpFlows(r).join("\n"));
  },
);

test(
  "traffic: ping between two namespaces passes through our cross-connect flows and stops when they are deleted",
  { skip, timeout: 60_000 },
  async (t) => {
    const r = await rig(t);
    const nsA = uniq(),
      nsB = uniq();
    const cleanup: (() => void)[] = [];
    t.after(() => {
      for (const f of cleanup.reverse()) {
        try {
          f();
        } catch {
          /* best effort, reported by the netns list check below */
        }
      }
    });
    for (const ns of [nsA, nsB]) {
      ip("netns", "add", ns);
      cleanup.push(() => ip("netns", "del", ns));
    }
    const hostA = `${r.br}a`,
      hostB = `${r.br}b`;
    ip("-n", r.ovs.netns, "link", "add", hostA, "type", "veth", "peer", "name", "eth0", "netns", nsA);
    ip("-n", r.ovs.netns, "link", "add", hostB, "type", "veth", "peer", "name", "eth0", "netns", nsB);
    ip("-n", nsA, "addr", "add", "10.77.0.1/24", "dev", "eth0");
    ip("-n", nsB, "addr", "add", "10.77.0.2/24", "dev", "eth0");
    for (const [ns, dev] of [
      [nsA, "eth0"],
      [nsB, "eth0"],
      [r.ovs.netns, hostA],
      [r.ovs.netns, hostB],
    ] as const)
      ip("-n", ns, "link", "set", dev, "up");

    await r.vs.addPort(r.br, { name: hostA });
    await r.vs.addPort(r.br, { name: hostB });
    const a = await r.vs.waitOfport(hostA),
      b = await r.vs.waitOfport(hostB);
    await r.of.flowMods([{ command: "delete" }]);
    const ping = (): boolean =>
      spawnSync("ip", ["netns", "exec", nsA, "ping", "-c", "2", "-i", "0.2", "-W", "1", "10.77.0.2"], {
        stdio: "ignore",
      }).status === 0;
    assert.equal(ping(), false, "ping passed with no flows installed");

    await r.of.flowMods(xconnectFlows({ kind: "local", e: a, c: b }));
    assert.deepEqual(
      dumpFlows(r).sort(),
      [`priority=100,in_port=${a} actions=output:${b}`, `priority=100,in_port=${b} actions=output:${a}`].sort(),
    );
    assert.equal(ping(), true, "ping failed through the cross-connect");
    const stats = await r.of.portStats(a);
    assert.ok(stats[0]!.rxPackets >= 2, `port ${a} rx_packets ${stats[0]!.rxPackets}`);

    await r.of.flowMods(xconnectDeletes({ kind: "local", e: a, c: b }));
    assert.deepEqual(dumpFlows(r), []);
    assert.equal(ping(), false, "ping passed after the flows were deleted");
  },
);
