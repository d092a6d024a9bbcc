// The VPP binary-API client against a real VPP 24.10 (one private instance per test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { VppClient, frame } from "../../src/vpp/client.js";
import { encode } from "../../src/vpp/codec.js";
import { VppApiError } from "../../src/vpp/errors.js";
import { MESSAGES } from "../../src/vpp/gen/messages.js";
import { launchVpp } from "../../src/vpp/launch.js";
import { startVpp, vppctl, vppSkip } from "../helpers/vpp.js";

const skip = vppSkip;
if (skip) console.log(`# vpp-api: skipped: ${skip}`);

test("vpp api: sockclnt_create, control_ping, dump closed by control_ping, typed replies", { skip }, async (t) => {
  const vpp = await startVpp(t);
  const c = await VppClient.connect(vpp.apiSocket, { require: ["tap_create_v3", "l3xc_update"] });
  t.after(() => c.close());
  assert.ok(c.info.messages > 500, `message table has ${c.info.messages} entries`);
  const v = await c.request("show_version", {});
  assert.equal(v.retval, 0);
  assert.match(v.version, /^24\.10/);
  const ifs = await c.dump("sw_interface_dump", { sw_if_index: 0xffffffff });
  assert.deepEqual(
    ifs.map((i) => i.interface_name),
    ["local0"],
  );
  // concurrent calls are matched by context
  const pings = await Promise.all([1, 2, 3, 4, 5].map(() => c.request("control_ping", {})));
  assert.ok(pings.every((p) => p.vpe_pid === vpp.pid));
  const lo = await c.request("create_loopback", {});
  await c.request("sw_interface_tag_add_del", { is_add: true, sw_if_index: lo.sw_if_index, tag: "nsm-test" });
  const [d] = await c.dump("sw_interface_dump", { sw_if_index: lo.sw_if_index });
  assert.equal(d!.tag, "nsm-test");
  assert.match(vppctl(vpp, "show interface"), /loop0/);
});

test("vpp api: a negative retval names the message, the value and its meaning", { skip }, async (t) => {
  const vpp = await startVpp(t);
  const c = await VppClient.connect(vpp.apiSocket);
  t.after(() => c.close());
  await assert.rejects(c.request("sw_interface_set_flags", { sw_if_index: 4242, flags: 1 }), (e: unknown) => {
    assert.ok(e instanceof VppApiError);
    assert.equal(e.message, "VPP sw_interface_set_flags failed: retval -2 INVALID_SW_IF_INDEX (Invalid sw_if_index)");
    return true;
  });
});

test("vpp api: a message whose name_crc VPP lacks is refused at connect and never sent", { skip }, async (t) => {
  const vpp = await startVpp(t);
  const saved = MESSAGES.show_version!.crc;
  MESSAGES.show_version!.crc = "deadbeef"; // as if we were generated from another VPP
  t.after(() => void (MESSAGES.show_version!.crc = saved));
  await assert.rejects(VppClient.connect(vpp.apiSocket, { require: ["show_version"] }), /lacks show_version_deadbeef/);
  const c = await VppClient.connect(vpp.apiSocket);
  t.after(() => c.close());
  assert.equal(c.has("show_version"), false);
  await assert.rejects(c.request("show_version", {}), /lacks show_version_deadbeef: not sent/);
  assert.equal((await c.request("control_ping", {})).retval, 0, "the connection is still fine");
});

test("vpp api: no VPP: the error names the socket", { skip }, async () => {
  await assert.rejects(
    VppClient.connect("/nonexistent/vpp-api.sock"),
    /VPP API socket \/nonexistent\/vpp-api.sock: no such socket/,
  );
});

test("vpp api: want_interface_events delivers sw_interface_event", { skip }, async (t) => {
  const vpp = await startVpp(t);
  const c = await VppClient.connect(vpp.apiSocket);
  t.after(() => c.close());
  await c.subscribe("want_interface_events", { enable_disable: 1, pid: process.pid });
  const lo = await c.request("create_loopback", {});
  const got = new Promise<number>((resolve) => {
    c.on("sw_interface_event", (e) => {
      if (e.sw_if_index === lo.sw_if_index && e.flags & 1) resolve(e.flags);
    });
  });
  await c.request("sw_interface_set_flags", { sw_if_index: lo.sw_if_index, flags: 1 });
  assert.ok((await got) & 1);
});

test("vpp api: frames split across reads and several per read are reassembled", { skip }, async (t) => {
  const vpp = await startVpp(t);
  // raw socket: sockclnt_create sent one byte at a time
  const s = connect(vpp.apiSocket);
  t.after(() => void s.destroy());
  await new Promise((r) => s.once("connect", r));
  const bytes = frame(encode("sockclnt_create", { _vl_msg_id: 15, context: 9, name: "bytewise" }));
  for (const b of bytes) s.write(Buffer.from([b]));
  const reply = await new Promise<Buffer>((resolve) => {
    let acc = Buffer.alloc(0);
    s.on("data", (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      if (acc.length >= 16 && acc.length >= 16 + acc.readUInt32BE(8)) resolve(acc);
    });
  });
  assert.equal(reply.readUInt16BE(16), 16, "sockclnt_create_reply");
});

test("vpp api: reconnect after VPP restarts; want_* subscriptions are renewed", { skip }, async (t) => {
  const vpp = await startVpp(t);
  const c = await VppClient.connect(vpp.apiSocket, { reconnect: true, timeoutMs: 3000 });
  t.after(() => c.close());
  await c.subscribe("want_interface_events", { enable_disable: 1, pid: process.pid });
  const reconnected = new Promise<void>((r) => c.onReconnect(r));
  await vpp.stop();
  await assert.rejects(c.request("control_ping", {}));
  const again = await launchVpp({ dir: vpp.dir, prefix: `nsmt${process.pid}r` });
  t.after(() => again.stop());
  await reconnected;
  const lo = await c.request("create_loopback", {});
  const up = new Promise<void>((resolve) =>
    c.on("sw_interface_event", (e) => e.sw_if_index === lo.sw_if_index && resolve()),
  );
  await c.request("sw_interface_set_flags", { sw_if_index: lo.sw_if_index, flags: 1 });
  await up;
});
