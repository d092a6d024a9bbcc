import { test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode, nameCrc, VppDecodeError } from "./codec.js";
import { vppErrorText } from "./errors.js";

test("codec: l3xc_update round-trips, count field filled from the array", () => {
  const path = { sw_if_index: 7, proto: 1, nh: { address: new Uint8Array(16).fill(9) } };
  const buf = encode("l3xc_update", {
    _vl_msg_id: 300,
    client_index: 5,
    context: 77,
    l3xc: { sw_if_index: 3, paths: [path] },
  });
  // header 10 + sw_if_index 4 + is_ip6 1 + n_paths 1 + one fib_path
  assert.equal(buf.readUInt16BE(0), 300);
  assert.equal(buf.readUInt32BE(6), 77);
  assert.equal(buf[15], 1, "n_paths");
  const v = decode<{ l3xc: { n_paths: number; paths: { sw_if_index: number; proto: number; weight: number }[] } }>(
    "l3xc_update",
    buf,
  );
  assert.equal(v.l3xc.n_paths, 1);
  assert.equal(v.l3xc.paths[0]!.sw_if_index, 7);
  assert.equal(v.l3xc.paths[0]!.proto, 1);
});

test("codec: .api defaults apply to omitted fields; fixed strings are NUL padded", () => {
  const buf = encode("tap_create_v3", { host_if_name: "nsm-1" });
  const v = decode<Record<string, unknown>>("tap_create_v3", buf);
  assert.equal(v.id, 0xffffffff);
  assert.equal(v.use_random_mac, true);
  assert.equal(v.num_rx_queues, 1);
  assert.equal(v.host_if_name, "nsm-1");
  assert.throws(() => encode("tap_create_v3", { host_if_name: "x".repeat(64) }), /longer than 63 bytes/);
});

test("codec: a truncated message is refused, never read past", () => {
  const buf = encode("sw_interface_details", { interface_name: "local0" });
  assert.throws(() => decode("sw_interface_details", buf.subarray(0, buf.length - 1)), VppDecodeError);
  // a variable array whose count claims more than the message holds
  const reply = encode("sockclnt_create_reply", { message_table: [{ index: 1, name: "a" }] });
  reply.writeUInt16BE(1000, 18);
  assert.throws(
    () => decode("sockclnt_create_reply", reply),
    /sockclnt_create_reply: needs \d+ bytes at offset 86, message has 86 bytes/,
  );
});

test("codec: name_crc and error meanings come from the generated tables", () => {
  assert.equal(nameCrc("control_ping"), "control_ping_51077d14");
  assert.equal(nameCrc("tap_create_v3"), "tap_create_v3_3f3fd1df");
  assert.equal(vppErrorText(-2), "INVALID_SW_IF_INDEX (Invalid sw_if_index)");
  assert.equal(vppErrorText(-99999), "unknown error");
});
