// The stats-segment reader against a real VPP 24.10, and against a hostile segment served by a
// small python3 peer (pointers out of range, a stuck in_progress flag): refused, never a crash.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VppClient } from "../../src/vpp/client.js";
import { vppStats } from "../../src/vpp/stats.js";
import { startVpp, vppSkip } from "../helpers/vpp.js";

const skip = vppSkip;
if (skip) console.log(`# vpp-stats: skipped: ${skip}`);

test("vpp stats: interface names and counters match VPP's API and move with traffic", { skip }, async (t) => {
  const vpp = await startVpp(t);
  const c = await VppClient.connect(vpp.apiSocket);
  t.after(() => c.close());
  const lo = await c.request("create_loopback", {});
  await c.request("sw_interface_set_flags", { sw_if_index: lo.sw_if_index, flags: 1 });
  const v4 = (a: number[]) => ({ af: 0, un: new Uint8Array([...a, ...new Array<number>(12).fill(0)]) });
  await c.request("sw_interface_add_del_address", {
    sw_if_index: lo.sw_if_index,
    is_add: true,
    prefix: { address: v4([10, 9, 9, 1]), len: 24 },
  });
  const stats = vppStats(vpp.dir);
  t.after(() => stats.close());
  const before = stats.interfaces().find((i) => i.swIfIndex === lo.sw_if_index)!;
  assert.equal(before.name, "loop0");
  const names = (await c.dump("sw_interface_dump", { sw_if_index: 0xffffffff })).map((d) => d.interface_name);
  assert.deepEqual(
    stats.interfaces().map((i) => i.name),
    names,
  );
  // pings to an absent neighbour: ARP requests go out of loop0 (tx) and the pings are dropped
  await c.request("cli_inband", { cmd: "ping 10.9.9.2 repeat 3 interval 0.01" });
  const after = stats.interfaces().find((i) => i.swIfIndex === lo.sw_if_index)!;
  assert.ok(after.tx.packets > before.tx.packets, `tx ${before.tx.packets} -> ${after.tx.packets}`);
  assert.ok(after.tx.bytes > before.tx.bytes);
  assert.ok(after.drops > before.drops);
  // a deleted interface's slot no longer carries its name (VPP 24.10 writes "deleted" there)
  await c.request("delete_loopback", { sw_if_index: lo.sw_if_index });
  assert.notEqual(stats.interfaces().find((i) => i.swIfIndex === lo.sw_if_index)?.name, "loop0");
});

test("vpp stats: a missing socket is named", { skip }, () => {
  assert.throws(() => vppStats("/nonexistent/stats.sock"), /VPP stats socket \/nonexistent\/stats.sock: .*ENOENT/);
});

const PEER = String.raw`
import os, socket, struct, sys, mmap
path, mode = sys.argv[1], sys.argv[2]
size = 4096
fd = os.memfd_create("hostile")
os.ftruncate(fd, size)
m = mmap.mmap(fd, size)
base = 0x7f0000000000
if mode == "outofrange":
    hdr = struct.pack("<QQQQQ", 2, base, 1, 0, base + 10 * size)   # directory far outside
elif mode == "huge":
    m[64:72] = struct.pack("<IBBBB", 0xffffff, 0, 0, 0, 0)          # vector claims 16M entries
    hdr = struct.pack("<QQQQQ", 2, base, 1, 0, base + 72)
elif mode == "stuck":
    hdr = struct.pack("<QQQQQ", 2, base, 1, 1, base + 72)            # in_progress never clears
else:
    hdr = struct.pack("<QQQQQ", 7, base, 1, 0, base + 72)            # unknown version
m[0:40] = hdr
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path); s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
socket.send_fds(c, [b"x"], [fd])
c.recv(1)
`;

test("vpp stats: a hostile segment is refused without reading outside the mapping", { skip }, async (t) => {
  if (spawnSync("python3", ["-c", "import socket; socket.send_fds"]).status !== 0) return t.skip("no python3 >= 3.9");
  const dir = mkdtempSync(join(tmpdir(), "vpp-hostile-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [mode, want] of [
    ["outofrange", /EAGAIN.*inconsistent/],
    ["huge", /EAGAIN.*inconsistent/],
    ["stuck", /EAGAIN/],
    ["version", /EPROTO.*version 7/],
  ] as const) {
    const sock = join(dir, `${mode}.sock`);
    const peer = spawn("python3", ["-c", PEER, sock, mode], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((r) => peer.stdout.once("data", r));
    assert.ok(existsSync(sock));
    const s = vppStats(sock);
    assert.throws(() => s.interfaces(), want, mode);
    s.close();
    peer.kill();
  }
});
