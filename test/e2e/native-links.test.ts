// Root only: the addon lists the links of a netns given by path, and names the path on ENOENT.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { linkList, NativeError, nativeAvailable } from "../../src/native.js";

const root = process.getuid?.() === 0;
const skip = !root ? "needs root (netns)" : !nativeAvailable() ? "addon not built (npm run build:native)" : false;

let n = 0;
const uniq = (): string => `t-${process.pid}-${n++}`;
const ip = (...args: string[]): string => execFileSync("ip", args, { encoding: "utf8" });

/** LIFO cleanup that runs every step even after failures and reports all errors. */
function cleanupStack(): { push(f: () => void): void; run(): void } {
  const steps: (() => void)[] = [];
  return {
    push: (f) => void steps.push(f),
    run() {
      const errors: unknown[] = [];
      for (const f of steps.splice(0).reverse()) {
        try {
          f();
        } catch (e) {
          errors.push(e);
        }
      }
      if (errors.length) throw new AggregateError(errors, `cleanup: ${errors.length} step(s) failed`);
    },
  };
}

test(
  "linkList returns both veth ends in a fresh netns with name, MTU and MAC",
  { skip, timeout: 20_000 },
  async (t) => {
    const cleanup = cleanupStack();
    t.after(() => cleanup.run());
    const ns = uniq();
    ip("netns", "add", ns);
    cleanup.push(() => ip("netns", "del", ns));
    const a = `${ns}a`.slice(-15),
      b = `${ns}b`.slice(-15);
    ip(
      "-n",
      ns,
      "link",
      "add",
      a,
      "mtu",
      "1400",
      "address",
      "02:00:00:00:0a:01",
      "type",
      "veth",
      "peer",
      "name",
      b,
      "mtu",
      "1300",
      "address",
      "02:00:00:00:0b:01",
    );
    ip("-n", ns, "link", "set", a, "up");

    const links = await linkList(`/run/netns/${ns}`);
    const byName = new Map(links.map((l) => [l.name, l]));
    assert.deepEqual([...byName.keys()].sort(), ["lo", a, b].sort());
    const la = byName.get(a)!,
      lb = byName.get(b)!;
    assert.equal(la.mtu, 1400);
    assert.equal(lb.mtu, 1300);
    assert.equal(la.mac, "02:00:00:00:0a:01");
    assert.equal(lb.mac, "02:00:00:00:0b:01");
    assert.equal(la.kind, "veth");
    assert.equal(la.up, true);
    assert.equal(lb.up, false);
    assert.ok(la.index > 0 && lb.index > 0 && la.index !== lb.index);
    // What `ip` sees agrees with us on the indexes.
    const seen = JSON.parse(ip("-j", "-n", ns, "link", "show")) as { ifindex: number; ifname: string }[];
    for (const l of seen) assert.equal(byName.get(l.ifname)?.index, l.ifindex);
  },
);

test("linkList on a missing netns path fails with ENOENT naming the path", { skip, timeout: 10_000 }, async () => {
  const path = `/run/netns/${uniq()}-missing`;
  await assert.rejects(linkList(path), (e: unknown) => {
    assert.ok(e instanceof NativeError, `not a NativeError: ${String(e)}`);
    assert.equal(e.code, "ENOENT");
    assert.equal(e.errno, 2);
    assert.equal(e.syscall, "open");
    assert.equal(e.path, path);
    assert.match(e.message, new RegExp(path));
    assert.match(e.stack ?? "", /native-links\.test\.ts/); // rethrown in TS: the caller is on the stack
    return true;
  });
});

test("linkList leaves no fd behind", { skip, timeout: 10_000 }, async () => {
  const { readdirSync } = await import("node:fs");
  const fds = (): number => readdirSync("/proc/self/fd").length;
  await linkList("/proc/self/ns/net");
  const before = fds();
  for (let i = 0; i < 50; i++) await linkList("/proc/self/ns/net");
  await assert.rejects(linkList("/run/netns/does-not-exist-" + process.pid));
  // node itself may close an fd of its own meanwhile (CI saw 26 after 27): a leak is only ever more
  assert.ok(fds() <= before, `${fds()} fds open after 51 calls, ${before} before`);
});

test("no thread of the process is left in a foreign netns after many calls", { skip, timeout: 20_000 }, async (t) => {
  const cleanup = cleanupStack();
  t.after(() => cleanup.run());
  const { readdirSync, readlinkSync } = await import("node:fs");
  const ns = uniq();
  ip("netns", "add", ns);
  cleanup.push(() => ip("netns", "del", ns));
  // Concurrent calls spread over the libuv pool threads.
  await Promise.all(Array.from({ length: 64 }, () => linkList(`/run/netns/${ns}`)));
  const own = readlinkSync("/proc/self/ns/net");
  const foreign = readdirSync("/proc/self/task").filter((tid) => {
    try {
      return readlinkSync(`/proc/self/task/${tid}/ns/net`) !== own;
    } catch {
      return false;
    }
  });
  assert.deepEqual(foreign, []);
});
