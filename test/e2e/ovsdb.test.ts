// Root only: our OVSDB client against a private ovsdb-server + ovs-vswitchd (test/helpers/ovs.ts);
// `ovs-vsctl` against the same instance is the independent check.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { status } from "../../src/tools/errors.js";
import {
  OvsdbClient,
  OvsdbError,
  OvsdbTransactionError,
  map,
  namedUuid,
  op,
  set,
  uuid,
  type Row,
} from "../../src/ovs/ovsdb/index.js";
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

const brOps = (name: string, extra: Record<string, unknown> = {}) => [
  op.insert("Interface", { name, type: "internal" }, "i"),
  op.insert("Port", { name, interfaces: namedUuid("i") }, "p"),
  op.insert("Bridge", { name, ports: namedUuid("p"), datapath_type: "netdev", ...extra } as never, "b"),
  op.mutate("Open_vSwitch", [], [["bridges", "insert", set([namedUuid("b")])]]),
];

test("ovsdb: list_dbs, get_schema, echo", { skip, timeout: 30_000 }, async (t) => {
  const { db } = await withOvs(t, { vswitchd: false });
  assert.deepEqual((await db.listDbs()).sort(), ["Open_vSwitch", "_Server"]);
  const s = await db.getSchema(DB);
  assert.equal(s.name, DB);
  assert.match(s.version, /^\d+\.\d+\.\d+$/);
  assert.deepEqual(s.tables.Interface!.columns.ofport!.type, { key: { type: "integer" }, min: 0, max: 1 });
  assert.equal(s.tables.Bridge!.isRoot ?? false, false);
  assert.deepEqual(await db.echo(["x", 1]), ["x", 1]);
  await assert.rejects(
    db.getSchema("nope"),
    (e: OvsdbError) => e.code === status.NOT_FOUND && /unknown database/.test(e.message),
  );
});

test(
  "ovsdb transact: insert with named uuids, select, update, mutate, wait, delete",
  { skip, timeout: 30_000 },
  async (t) => {
    const { ovs, db } = await withOvs(t, { vswitchd: false });
    const res = await db.transact(DB, [
      ...brOps("tb1", { external_ids: map({ owner: "nsm" }) }),
      op.select("Bridge", [["name", "==", "tb1"]], ["name", "ports", "external_ids"]),
    ]);
    assert.equal(res.length, 5);
    assert.equal(res[2]!.uuid![0], "uuid");
    const brUuid = res[2]!.uuid![1];
    assert.equal(res[3]!.count, 1);
    assert.deepEqual(res[4]!.rows, [
      { name: "tb1", ports: ["uuid", res[1]!.uuid![1]], external_ids: ["map", [["owner", "nsm"]]] },
    ]);
    assert.equal(ovs.vsctl("list-br").trim(), "tb1");
    assert.equal(ovs.vsctl("get", "bridge", "tb1", "external_ids:owner").trim(), "nsm");

    const upd = await db.transact(DB, [op.update("Bridge", [["_uuid", "==", uuid(brUuid)]], { fail_mode: "secure" })]);
    assert.equal(upd[0]!.count, 1);
    assert.equal(ovs.vsctl("get-fail-mode", "tb1").trim(), "secure");

    await db.transact(DB, [
      op.mutate(
        "Bridge",
        [["name", "==", "tb1"]],
        [
          ["external_ids", "insert", map({ k2: "v2" })],
          ["external_ids", "delete", set(["owner"])],
        ],
      ),
    ]);
    assert.equal(ovs.vsctl("get", "bridge", "tb1", "external_ids").trim(), "{k2=v2}");

    // wait: holds ⇒ {}, does not hold ⇒ "timed out" and the transaction is not applied
    const w = await db.transact(DB, [
      op.wait("Bridge", [["name", "==", "tb1"]], ["fail_mode"], "==", [{ fail_mode: "secure" }], 0),
    ]);
    assert.deepEqual(w, [{}]);
    await assert.rejects(
      db.transact(DB, [
        op.update("Bridge", [["name", "==", "tb1"]], { fail_mode: "standalone" }),
        // ops see the effects of earlier ops in the same transaction
        op.wait("Bridge", [["name", "==", "tb1"]], ["fail_mode"], "==", [{ fail_mode: "secure" }], 0),
      ]),
      (e: OvsdbTransactionError) =>
        e.index === 1 &&
        e.op === "wait" &&
        e.table === "Bridge" &&
        e.error === "timed out" &&
        e.code === status.ABORTED,
    );
    assert.equal(ovs.vsctl("get-fail-mode", "tb1").trim(), "secure");

    // delete a root-table row; and the bridge goes away by garbage collection once unreferenced
    const qos = await db.transact(DB, [op.insert("QoS", { type: "linux-htb" })]);
    const del = await db.transact(DB, [op.delete("QoS", [["_uuid", "==", uuid(qos[0]!.uuid![1])]])]);
    assert.equal(del[0]!.count, 1);
    await db.transact(DB, [op.mutate("Open_vSwitch", [], [["bridges", "delete", set([uuid(brUuid)])]])]);
    assert.equal(ovs.vsctl("list-br").trim(), "");
    const sel = await db.transact(DB, [op.select("Port", [])]);
    assert.deepEqual(sel[0]!.rows, []);
  },
);

test(
  "ovsdb transact errors name the op, table and column, and leave nothing half-done",
  { skip, timeout: 30_000 },
  async (t) => {
    const { ovs, db } = await withOvs(t, { vswitchd: false });
    await db.transact(DB, brOps("tb1"));

    // an op fails: value out of range; the insert before it is not applied
    const addPort = (name: string, tag: number) => [
      op.insert("Interface", { name }, "i"),
      op.insert("Port", { name, interfaces: namedUuid("i"), tag }, "p"),
      op.mutate("Bridge", [["name", "==", "tb1"]], [["ports", "insert", set([namedUuid("p")])]]),
    ];
    await assert.rejects(
      db.transact(DB, [...addPort("ok1", 10), op.update("Port", [["name", "==", "ok1"]], { tag: 5000 })]),
      (e: OvsdbTransactionError) => {
        assert.equal(e.index, 3);
        assert.equal(e.op, "update");
        assert.equal(e.table, "Port");
        assert.equal(e.error, "constraint violation");
        assert.equal(e.code, status.FAILED_PRECONDITION);
        assert.match(
          e.message,
          /op 4\/4 update on Port: constraint violation: 5000 is not in the valid range 0 to 4095/,
        );
        assert.equal(e.results.length, 4);
        return true;
      },
    );
    assert.doesNotMatch(ovs.vsctl("list-ports", "tb1"), /ok1/);

    // the commit fails (duplicate index value): every op looked fine, nothing is applied
    await db.transact(DB, addPort("dup", 1));
    await assert.rejects(db.transact(DB, addPort("dup", 2)), (e: OvsdbTransactionError) => {
      assert.equal(e.op, "commit");
      assert.equal(e.index, 3);
      assert.equal(e.error, "constraint violation");
      assert.match(e.table ?? "", /^(Interface|Port)$/);
      assert.match(e.column ?? "", /^name$/);
      assert.match(e.message, /commit of 3 op\(s\).*identical values \(dup\)/);
      return true;
    });
    assert.equal(ovs.vsctl("get", "port", "dup", "tag").trim(), "1");

    // referential integrity: a Port needs at least one interface
    await assert.rejects(
      db.transact(DB, [
        op.insert("Port", { name: "noif" }, "p"),
        op.mutate("Bridge", [["name", "==", "tb1"]], [["ports", "insert", set([namedUuid("p")])]]),
      ]),
      (e: OvsdbTransactionError) =>
        /constraint violation|referential integrity violation/.test(e.error) && e.code === status.FAILED_PRECONDITION,
    );

    // unknown column, named
    await assert.rejects(
      db.transact(DB, [op.update("Bridge", [["name", "==", "tb1"]], { no_such_column: 1 })]),
      (e: OvsdbTransactionError) => {
        assert.equal(e.error, "unknown column");
        assert.equal(e.column, "no_such_column");
        assert.equal(e.index, 0);
        assert.equal(e.table, "Bridge");
        assert.match(e.message, /no_such_column/);
        assert.equal(e.code, status.INVALID_ARGUMENT);
        return true;
      },
    );

    // request-level error: unknown database
    await assert.rejects(
      db.transact("Nope", [op.select("Bridge", [])]),
      (e: OvsdbError) => !(e instanceof OvsdbTransactionError) && e.code === status.NOT_FOUND,
    );
    // and the session is still good
    assert.equal(ovs.vsctl("list-ports", "tb1").trim(), "dup");
  },
);

test(
  "ovsdb monitor_cond replica follows ovs-vsctl changes (insert, modify incl. map/set diffs, delete)",
  { skip, timeout: 30_000 },
  async (t) => {
    const { ovs, db } = await withOvs(t);
    const m = await db.monitor(DB, {
      Bridge: { columns: ["name", "ports", "external_ids", "protocols"] },
      Interface: { columns: ["name", "type", "options", "ofport"] },
    });
    const r = m.replica;
    const br = (): Row | undefined => r.find("Bridge", (b) => b.name === "tb1");
    assert.equal(br(), undefined);

    ovs.vsctl(
      "add-br",
      "tb1",
      "--",
      "set",
      "bridge",
      "tb1",
      "datapath_type=netdev",
      "protocols=OpenFlow13",
      "external_ids:a=1",
    );
    const b = await r.waitFor(br, { timeoutMs: 5_000 });
    assert.deepEqual(b.protocols, ["OpenFlow13"]);
    assert.deepEqual(b.external_ids, { a: "1" });

    ovs.vsctl("set", "bridge", "tb1", "protocols=OpenFlow10,OpenFlow13", "external_ids:a=2", "external_ids:b=3");
    await r.waitFor(() => (br()?.external_ids as Record<string, string>).b === "3" || undefined, { timeoutMs: 5_000 });
    assert.deepEqual([...(br()!.protocols as string[])].sort(), ["OpenFlow10", "OpenFlow13"]);
    assert.deepEqual(br()!.external_ids, { a: "2", b: "3" });
    ovs.vsctl("remove", "bridge", "tb1", "external_ids", "a");
    await r.waitFor(() => !("a" in (br()!.external_ids as object)) || undefined, { timeoutMs: 5_000 });
    assert.deepEqual(br()!.external_ids, { b: "3" });

    ovs.vsctl(
      "add-port",
      "tb1",
      "vx1",
      "--",
      "set",
      "interface",
      "vx1",
      "type=vxlan",
      "options:remote_ip=10.0.0.2",
      "options:key=flow",
    );
    const vx = await r.waitFor(
      () => {
        const i = r.find("Interface", (x) => x.name === "vx1");
        return i && (i.ofport as number[]).length ? i : undefined;
      },
      { timeoutMs: 5_000 },
    );
    assert.equal(vx.type, "vxlan");
    assert.deepEqual(vx.options, { key: "flow", remote_ip: "10.0.0.2" });
    assert.ok((vx.ofport as number[])[0]! >= 1);
    assert.equal((br()!.ports as string[]).length, 2);

    ovs.vsctl("del-port", "tb1", "vx1");
    await r.waitFor(() => (r.find("Interface", (x) => x.name === "vx1") ? undefined : true), { timeoutMs: 5_000 });
    assert.equal((br()!.ports as string[]).length, 1);
    await m.cancel();
    assert.deepEqual(r.rows("Bridge"), []);
  },
);

test("ovsdb plain monitor (RFC 7047 update) keeps a replica too", { skip, timeout: 30_000 }, async (t) => {
  const { ovs, db } = await withOvs(t, { vswitchd: false });
  const m = await db.monitor(DB, { Bridge: { columns: ["name", "external_ids"] } }, { cond: false });
  ovs.vsctl("--no-wait", "add-br", "tb2", "--", "set", "bridge", "tb2", "external_ids:x=1");
  await m.replica.waitFor(() => m.replica.find("Bridge", (b) => (b.external_ids as Record<string, string>).x === "1"), {
    timeoutMs: 5_000,
  });
  ovs.vsctl("--no-wait", "del-br", "tb2");
  await m.replica.waitFor(() => (m.replica.rows("Bridge").length === 0 ? true : undefined), { timeoutMs: 5_000 });
});

test(
  "ovsdb client reconnects after an ovsdb-server restart and resyncs its replica",
  { skip, timeout: 40_000 },
  async (t) => {
    const ovs = await startOvs({ vswitchd: false });
    t.after(() => ovs.stop());
    const db = await OvsdbClient.connect(ovs.dbTarget, { timeoutMs: 5_000, backoffMs: { min: 20, max: 200 } });
    t.after(() => db.close());
    const m = await db.monitor(DB, { Bridge: { columns: ["name"] } });
    ovs.vsctl("--no-wait", "add-br", "keep", "--", "add-br", "gone");
    await m.replica.waitFor(() => (m.replica.rows("Bridge").length === 2 ? true : undefined), { timeoutMs: 5_000 });

    const changes: string[] = [];
    m.replica.onChange((cs) => {
      for (const c of cs) changes.push(`${c.new ? (c.old ? "mod" : "add") : "del"} ${(c.new ?? c.old)!.name}`);
    });
    const down = new Promise((resolve) => db.on("disconnected", resolve));
    await ovs.stopOvsdb();
    await down;
    await assert.rejects(db.listDbs(), (e: OvsdbError) => e.code === status.UNAVAILABLE);
    // change the database while the server is down, behind the client's back
    execFileSync("ovsdb-tool", [
      "transact",
      `${ovs.dir}/conf.db`,
      JSON.stringify([
        DB,
        { op: "insert", table: "Interface", row: { name: "new", type: "internal" }, "uuid-name": "i" },
        { op: "insert", table: "Port", row: { name: "new", interfaces: ["named-uuid", "i"] }, "uuid-name": "p" },
        { op: "insert", table: "Bridge", row: { name: "new", ports: ["named-uuid", "p"] }, "uuid-name": "b" },
        { op: "mutate", table: "Open_vSwitch", where: [], mutations: [["bridges", "insert", ["named-uuid", "b"]]] },
      ]),
    ]);
    execFileSync("ovsdb-tool", [
      "transact",
      `${ovs.dir}/conf.db`,
      JSON.stringify([DB, { op: "select", table: "Bridge", where: [["name", "==", "gone"]], columns: ["_uuid"] }]),
    ]);
    const gone = m.replica.find("Bridge", (b) => b.name === "gone")!._uuid as string;
    execFileSync("ovsdb-tool", [
      "transact",
      `${ovs.dir}/conf.db`,
      JSON.stringify([
        DB,
        { op: "mutate", table: "Open_vSwitch", where: [], mutations: [["bridges", "delete", ["uuid", gone]]] },
      ]),
    ]);

    const up = db.waitConnected({ timeoutMs: 10_000 });
    await ovs.startOvsdb();
    await up;
    assert.deepEqual(
      m.replica
        .rows("Bridge")
        .map((b) => b.name)
        .sort(),
      ["keep", "new"],
    );
    assert.deepEqual(changes.sort(), ["add new", "del gone"]);
    // the monitor keeps working on the new session
    ovs.vsctl("--no-wait", "del-br", "keep");
    await m.replica.waitFor(() => (m.replica.rows("Bridge").length === 1 ? true : undefined), { timeoutMs: 5_000 });
  },
);
