// Root only: the Vswitch helpers, replica waits and the tcp idle probe against a private
// ovsdb-server + ovs-vswitchd (test/helpers/ovs.ts); the protocol itself is in ovsdb.test.ts.
// `ovs-vsctl` against the same instance is the independent check.
import { test } from "node:test";
import assert from "node:assert/strict";
import { status } from "../../src/tools/errors.js";
import { OvsdbClient, OvsdbError, OvsdbTransactionError, Replica, Vswitch } from "../../src/ovs/ovsdb/index.js";
import { ovsAvailable, startOvs, type OvsInstance } from "../helpers/ovs.js";

const root = process.getuid?.() === 0;
const skip = !root ? "needs root (netns, ovs-vswitchd)" : !ovsAvailable() ? "openvswitch-switch not installed" : false;
const DB = "Open_vSwitch";

async function withOvs(
  t: { after(f: () => unknown): void },
  o?: Parameters<typeof startOvs>[0],
): Promise<{ ovs: OvsInstance; db: OvsdbClient }> {
  const ovs = await startOvs(o);
  t.after(() => ovs.stop());
  const db = await OvsdbClient.connect(ovs.dbTarget, { timeoutMs: 5_000 });
  t.after(() => db.close());
  return { ovs, db };
}

test(
  "vswitch helpers: bridge, ports with options/external_ids, ofport from the monitor, stats, del; atomic failure",
  { skip, timeout: 40_000 },
  async (t) => {
    const { ovs, db } = await withOvs(t);
    const vs = await Vswitch.open(db);
    const br = await vs.addBridge({
      name: "tb1",
      datapathType: "netdev",
      protocols: ["OpenFlow13"],
      failMode: "secure",
      externalIds: { owner: "nsm" },
    });
    assert.equal(br.datapathType, "netdev");
    assert.deepEqual(br.protocols, ["OpenFlow13"]);
    assert.equal(br.failMode, "secure");
    assert.deepEqual(br.ports, ["tb1"]);
    assert.match(br.datapathId ?? "", /^[0-9a-f]{16}$/);
    assert.equal((await vs.addBridge({ name: "tb1", mayExist: true })).uuid, br.uuid);
    await assert.rejects(
      vs.addBridge({ name: "tb1" }),
      (e: OvsdbError) => e.code === status.ALREADY_EXISTS && /"tb1"/.test(e.message),
    );
    assert.equal(vs.interfaceByName("tb1")!.ofport, 65534);

    const p = await vs.addPort("tb1", { name: "ip1", type: "internal", externalIds: { conn: "c1" }, tag: 7 });
    assert.equal(p.bridge, "tb1");
    assert.equal(p.tag, 7);
    assert.deepEqual(p.externalIds, { conn: "c1" });
    const of1 = await vs.waitOfport("ip1", { timeoutMs: 5_000 });
    assert.ok(of1 >= 1 && of1 < 65534);
    assert.equal(ovs.vsctl("get", "interface", "ip1", "ofport").trim(), String(of1));
    assert.equal(typeof vs.interfaceByName("ip1")!.statistics.rx_packets, "number");

    const vx = await vs.addPort("tb1", {
      name: "vx1",
      type: "vxlan",
      options: { remote_ip: "10.0.0.2", dst_port: "4789", key: "flow" },
    });
    assert.deepEqual(vx.interfaces[0]!.options, { dst_port: "4789", key: "flow", remote_ip: "10.0.0.2" });
    assert.match(ovs.vsctl("get", "interface", "vx1", "options"), /remote_ip="10.0.0.2"/);
    await vs.waitOfport("vx1", { timeoutMs: 5_000 });

    // a system port whose device does not exist: ofport -1, error named
    await vs.addPort("tb1", { name: "nodev0" });
    await assert.rejects(
      vs.waitOfport("nodev0", { timeoutMs: 5_000 }),
      (e: OvsdbError) =>
        e.code === status.FAILED_PRECONDITION && /nodev0.*(No such device|could not open)/.test(e.message),
    );

    // missing bridge: NOT_FOUND, nothing written
    await assert.rejects(
      vs.addPort("nobr", { name: "x1", type: "internal" }),
      (e: OvsdbError) => e.code === status.NOT_FOUND && /"nobr"/.test(e.message),
    );
    assert.equal(vs.port("x1"), undefined);
    // duplicate interface name: the transaction fails as a whole
    await assert.rejects(vs.addPort("tb1", { name: "ip1", type: "internal" }), OvsdbTransactionError);
    assert.equal(vs.ports("tb1").length, 4);

    await vs.delPort("tb1", "vx1");
    assert.equal(vs.interfaceByName("vx1"), undefined);
    assert.doesNotMatch(ovs.vsctl("list-ports", "tb1"), /vx1/);
    await vs.delPort("tb1", "vx1", { ifExists: true });
    await assert.rejects(vs.delPort("tb1", "vx1"), (e: OvsdbError) => e.code === status.NOT_FOUND);

    await vs.setController("tb1", ["punix:/nonexistent/x.ctl"]);
    assert.deepEqual(vs.bridge("tb1")!.controller, ["punix:/nonexistent/x.ctl"]);
    assert.equal(ovs.vsctl("get-controller", "tb1").trim(), "punix:/nonexistent/x.ctl");
    await vs.setController("tb1", []);
    assert.equal(ovs.vsctl("get-controller", "tb1").trim(), "");

    await vs.setOtherConfig({ "stats-update-interval": "1000" });
    assert.equal(ovs.vsctl("get", "open_vswitch", ".", "other_config:stats-update-interval").trim(), '"1000"');

    await vs.delBridge("tb1");
    assert.equal(vs.bridges().length, 0);
    assert.equal(ovs.vsctl("list-br").trim(), "");
  },
);

test("replica waitFor honours timeout and abort", { skip, timeout: 10_000 }, async (t) => {
  const { db } = await withOvs(t, { vswitchd: false });
  const r = new Replica(await db.getSchema(DB));
  await assert.rejects(
    r.waitFor(() => undefined, { timeoutMs: 20, what: "nothing" }),
    (e: OvsdbError) => e.code === status.DEADLINE_EXCEEDED && /nothing/.test(e.message),
  );
  const ac = new AbortController();
  const p = r.waitFor(() => undefined, { signal: ac.signal });
  ac.abort();
  await assert.rejects(p, (e: OvsdbError) => e.code === status.CANCELLED);
});

test(
  "ovsdb over tcp: the server's idle probe (~5 s) is answered and the session lives on",
  { skip, timeout: 30_000 },
  async (t) => {
    const port = 20_000 + (process.pid % 20_000);
    const ovs = await startOvs({ vswitchd: false, tcpPort: port });
    t.after(() => ovs.stop());
    const db = await OvsdbClient.connect(`tcp:127.0.0.1:${port}`, { keepaliveMs: 0, timeoutMs: 5_000 });
    t.after(() => db.close());
    assert.ok((await db.listDbs()).includes(DB));
    let lost = false;
    db.on("disconnected", () => {
      lost = true;
    });
    const probed = new Promise((resolve) => db.on("echo", resolve));
    await probed;
    assert.deepEqual(await db.listDbs().then((d) => d.sort()), ["Open_vSwitch", "_Server"]);
    assert.equal(lost, false);
  },
);
