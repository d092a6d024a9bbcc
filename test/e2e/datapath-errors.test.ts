// Root only: bad input and faults give clear errors and leave nothing half-created behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DatapathError, Netns } from "../../src/datapath/index.js";
import { ip, ipAsync, ipJson, rootLeftovers, rootSkip, sandbox } from "../../src/datapath/testing/index.js";

const skip = rootSkip;
const names = (ns: string): string[] =>
  ipJson<{ ifname: string }[]>("-n", ns, "link", "show")
    .map((l) => l.ifname)
    .sort();
const addrs = (ns: string): string[] =>
  ipJson<{ addr_info: { local: string; prefixlen: number; scope: string }[] }[]>("-n", ns, "addr", "show")
    .flatMap((l) => l.addr_info)
    .filter((a) => a.scope === "global")
    .map((a) => `${a.local}/${a.prefixlen}`);

function isDp(re: RegExp, fields: Partial<DatapathError>) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof DatapathError, `not a DatapathError: ${String(e)}`);
    assert.match(e.message, re);
    for (const [k, v] of Object.entries(fields))
      assert.equal((e as unknown as Record<string, unknown>)[k], v, `field ${k}`);
    return true;
  };
}

test("name longer than 15 bytes is refused before anything is sent", { skip, timeout: 10_000 }, async (t) => {
  const { ns, name } = sandbox(t).netns();
  await assert.rejects(
    ns
      .batch()
      .linkAdd({ kind: "bridge", attrs: { name: "br-ok" } })
      .linkAdd({ kind: "bridge", attrs: { name: "a-very-long-name-0" } })
      .commit(),
    isDp(/op 2\/2 linkAdd: invalid link name "a-very-long-name-0": 18 bytes, at most 15.*nothing was sent/, {
      code: "EINVAL",
      step: 1,
      syscall: "validate",
    }),
  );
  await assert.rejects(
    ns
      .batch()
      .linkAdd({ kind: "veth", attrs: { name: "ok" }, peer: { name: "ünïcödé-näme-x" } })
      .commit(),
    /veth peer name .* bytes, at most 15/,
  );
  assert.deepEqual(names(name), ["lo"], "the valid first op was not sent either");
});

test(
  "duplicate names: within a batch refused up front; against the kernel EEXIST naming link and netns",
  { skip, timeout: 10_000 },
  async (t) => {
    const { ns, name } = sandbox(t).netns();
    await assert.rejects(
      ns
        .batch()
        .linkAdd({ kind: "bridge", attrs: { name: "d0" } })
        .linkAdd({ kind: "veth", attrs: { name: "d1" }, peer: { name: "d0" } })
        .commit(),
      isDp(/op 2\/2 linkAdd: duplicate link name "d0" in \/run\/netns\/.*: op 1 creates it too/, { code: "EINVAL" }),
    );
    assert.deepEqual(names(name), ["lo"]);
    await ns.linkAdd({ kind: "veth", attrs: { name: "nsm-1a" }, peer: { name: "nsm-1b" } });
    await assert.rejects(
      ns
        .batch()
        .linkAdd({ kind: "veth", attrs: { name: "nsm-1a" }, peer: { name: "other" } })
        .commit(),
      isDp(
        new RegExp(`op 1/1 linkAdd: EEXIST creating veth nsm-1a \\(peer other\\) in /run/netns/${name}: RTM_NEWLINK`),
        { code: "EEXIST", errno: 17, op: "linkAdd", step: 0, netns: `/run/netns/${name}` },
      ),
    );
    assert.deepEqual(names(name), ["lo", "nsm-1a", "nsm-1b"]);
  },
);

test("missing netns: opening it, and as a veth peer reference", { skip, timeout: 10_000 }, async (t) => {
  const { ns, name } = sandbox(t).netns();
  const missing = `/run/netns/t-${process.pid}-nope`;
  assert.throws(
    () => Netns.open(missing),
    isDp(new RegExp(`ENOENT opening netns ${missing}`), { code: "ENOENT", path: missing, syscall: "open" }),
  );
  assert.throws(() => Netns.open({ pid: 2 ** 30 }), { code: "ENOENT" });
  assert.throws(() => Netns.open({ name: "../etc" }), { code: "EINVAL" });
  await assert.rejects(
    ns
      .batch()
      .linkAdd({ kind: "veth", attrs: { name: "m0" }, peer: { name: "m1", netns: missing } })
      .commit(),
    isDp(
      new RegExp(
        `op 1/1 linkAdd: ENOENT creating veth m0 \\(peer m1 in ${missing}\\) in /run/netns/${name}: open ${missing}`,
      ),
      { code: "ENOENT", path: missing },
    ),
  );
  assert.deepEqual(names(name), ["lo"]);
});

test("invalid CIDR, wrong family, bad values: clear errors, nothing sent", { skip, timeout: 10_000 }, async (t) => {
  const { ns, name } = sandbox(t).netns();
  const cases: [() => Promise<unknown>, RegExp][] = [
    [
      () => ns.batch().addrAdd({ link: "x", cidr: "10.0.0.300/24" }).commit(),
      /invalid address CIDR for x "10\.0\.0\.300\/24"/,
    ],
    [() => ns.batch().addrAdd({ link: "x", cidr: "10.0.0.1/33" }).commit(), /prefix length must be 0\.\.32/],
    [() => ns.batch().addrAdd({ link: "x", cidr: "10.0.0.1" }).commit(), /missing "\/prefix"/],
    [
      () => ns.batch().addrAdd({ link: "x", cidr: "fd00::1/64", peer: "10.0.0.2" }).commit(),
      /fd00::1\/64 is IPv6 but peer 10\.0\.0\.2 is IPv4/,
    ],
    [
      () => ns.batch().routeAdd({ dst: "10.0.0.0/8", via: "fd00::1" }).commit(),
      /gateway fd00::1 is IPv6, destination is IPv4/,
    ],
    [
      () => ns.batch().routeAdd({ dst: "fd00::/8", dev: "x", src: "10.0.0.1" }).commit(),
      /source 10\.0\.0\.1 is IPv4, destination is IPv6/,
    ],
    [() => ns.batch().routeAdd({ dst: "default", dev: "x" }).commit(), /needs a gateway or family/],
    [
      () =>
        ns
          .batch()
          .linkAdd({ kind: "vxlan", attrs: { name: "v" }, vni: 1, local: "10.0.0.1", remote: "fd00::2" })
          .commit(),
      /local 10\.0\.0\.1 is IPv4 but remote fd00::2 is IPv6/,
    ],
    [
      () =>
        ns
          .batch()
          .linkAdd({ kind: "vxlan", attrs: { name: "v" }, vni: 1 << 24 })
          .commit(),
      /invalid VNI for v 16777216/,
    ],
    [
      () =>
        ns
          .batch()
          .linkAdd({ kind: "bridge", attrs: { name: "b", mtu: 10 } })
          .commit(),
      /invalid MTU for b 10/,
    ],
    [
      () =>
        ns
          .batch()
          .linkAdd({ kind: "bridge", attrs: { name: "b", mac: "zz:00:00:00:00:00" } })
          .commit(),
      /invalid MAC for b/,
    ],
    [() => ns.batch().neighAdd({ link: "x", ip: "10.0.0.1" }).commit(), /mac is required/],
  ];
  for (const [f, re] of cases) await assert.rejects(f(), isDp(re, { code: "EINVAL", syscall: "validate" }));
  assert.deepEqual(names(name), ["lo"]);
});

test("a failing op undoes the earlier ones: nothing half-created is left", { skip, timeout: 15_000 }, async (t) => {
  const sb = sandbox(t);
  const a = sb.netns(),
    b = sb.netns();
  await a.ns.linkAdd({ kind: "bridge", attrs: { name: "taken" } });
  await assert.rejects(
    a.ns
      .batch()
      .linkAdd({ kind: "veth", attrs: { name: "h0", up: true }, peer: { name: "h1", netns: b.ns, up: true } })
      .addrAdd({ link: "h0", cidr: "10.5.0.1/24" })
      .routeAdd({ dst: "10.6.0.0/16", via: "10.5.0.2" })
      .linkSetName("h0", "h0-renamed")
      .linkAdd({ kind: "tap", attrs: { name: "tp0" } })
      .neighAdd({ link: "tp0", ip: "10.5.0.9", mac: "02:00:00:00:00:09" })
      .linkAdd({ kind: "bridge", attrs: { name: "taken" } })
      .commit(),
    isDp(/op 7\/7 linkAdd: EEXIST creating bridge taken in .*; undid 6 earlier op\(s\)/, { code: "EEXIST", step: 6 }),
  );
  assert.deepEqual(names(a.name), ["lo", "taken"]);
  assert.deepEqual(names(b.name), ["lo"], "the veth peer in the other netns went with its pair");
  assert.deepEqual(addrs(a.name), []);
  assert.equal(ipJson("-n", a.name, "route", "show", "10.6.0.0/16").length, 0);

  // A missing link in a later op: ENODEV naming the link; the earlier creation is undone.
  await assert.rejects(
    a.ns
      .batch()
      .linkAdd({ kind: "bridge", attrs: { name: "br9" } })
      .addrAdd({ link: "ghost", cidr: "10.7.0.1/24" })
      .commit(),
    isDp(/op 2\/2 addrAdd: ENODEV adding address 10\.7\.0\.1\/24 on ghost in .*: SIOCGIFINDEX link ghost; undid 1/, {
      code: "ENODEV",
    }),
  );
  assert.deepEqual(names(a.name), ["lo", "taken"]);

  // With undo: false the applied ops stay (the caller undoes them).
  await assert.rejects(
    a.ns
      .batch()
      .linkAdd({ kind: "bridge", attrs: { name: "kept" } })
      .linkAdd({ kind: "bridge", attrs: { name: "taken" } })
      .commit({ undo: false }),
    { code: "EEXIST" },
  );
  assert.deepEqual(names(a.name), ["kept", "lo", "taken"]);
  assert.deepEqual(rootLeftovers(), []);
});

test(
  "a netns that disappears mid-batch: the batch fails naming the step, and is undone",
  { skip, timeout: 60_000 },
  async (t) => {
    const sb = sandbox(t);
    const a = sb.netns();
    const gone = sb.name();
    ip("netns", "add", gone);
    sb.cleanup.push(`ip netns del ${gone} (if still there)`, () => {
      if (ip("netns", "list").includes(gone)) ip("netns", "del", gone);
    });
    const batch = a.ns.batch();
    const n = 2000; // ~0.25 ms each: far longer than it takes to delete the netns
    // The peer netns is named by path, so each step opens it when it runs.
    for (let i = 0; i < n; i++)
      batch.linkAdd({ kind: "veth", attrs: { name: `g${i}` }, peer: { name: `p${i}`, netns: { name: gone } } });
    const settled = batch.commit().then(
      () => undefined,
      (e: unknown) => e,
    );
    // Delete the peer netns once the batch is under way (some pairs exist).
    while (names(a.name).length < 20) await new Promise((r) => setImmediate(r));
    await ipAsync("netns", "del", gone);
    const err = await settled;
    assert.ok(err instanceof DatapathError, `batch of ${n} finished before the netns went away; expected a failure`);
    // ENOENT once the file is gone; EINVAL in the short window where `ip netns del` has
    // unmounted the namespace but not yet removed the (now plain) file.
    assert.ok(err.code === "ENOENT" || err.code === "EINVAL", err.message);
    assert.ok(err.step! > 0 && err.step! < n, `step ${err.step}`);
    assert.match(
      err.message,
      new RegExp(
        `op ${err.step! + 1}/${n} linkAdd: ${err.code} creating veth g${err.step} \\(peer p${err.step} in /run/netns/${gone}\\) in /run/netns/${a.name}: (open|NS_GET_NSTYPE) /run/netns/${gone}.*; undid ${err.step} earlier`,
      ),
    );
    assert.deepEqual(names(a.name), ["lo"], "every pair created before the failure was deleted");
  },
);

test("a closed Netns is refused with EBADF", { skip, timeout: 10_000 }, async (t) => {
  const { name } = sandbox(t).netns();
  const ns = Netns.open({ name });
  ns.close();
  await assert.rejects(
    ns
      .batch()
      .linkAdd({ kind: "bridge", attrs: { name: "z" } })
      .commit(),
    { code: "EBADF" },
  );
  assert.deepEqual(names(name), ["lo"]);
});

test("an aborted signal rejects before anything is sent", { skip, timeout: 10_000 }, async (t) => {
  const { ns, name } = sandbox(t).netns();
  const ac = new AbortController();
  ac.abort(new Error("request cancelled"));
  await assert.rejects(
    ns
      .batch()
      .linkAdd({ kind: "bridge", attrs: { name: "ab" } })
      .commit({ signal: ac.signal }),
    /request cancelled/,
  );
  assert.deepEqual(names(name), ["lo"]);
});
