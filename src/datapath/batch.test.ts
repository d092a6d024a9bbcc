// Root only: a batch that also runs ops in another netns (Batch.in), and addrs({ link }).
import { test } from "node:test";
import assert from "node:assert/strict";
import { DatapathError } from "./errors.js";
import { ipJson, rootSkip, sandbox } from "./testing/index.js";

const skip = rootSkip;
const addrsOf = (ns: string, dev: string): string[] =>
  ipJson<{ addr_info: { local: string; prefixlen: number }[] }[]>("-4", "-n", ns, "addr", "show", "dev", dev).flatMap(
    (l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`),
  );

test(
  "Batch.in: a veth, then addresses/routes/alias on both ends, in one commit",
  { skip, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const a = sb.netns(),
      b = sb.netns();
    const r = await a.ns
      .batch()
      .linkAdd({
        kind: "veth",
        attrs: { name: "va", up: true, alias: "nsm:x" },
        peer: { name: "vb", netns: b.ns, up: true },
      })
      .addrReplace({ link: "va", cidr: "10.77.0.1/32" })
      .routeReplace({ dst: "10.77.0.2/32", dev: "va" })
      .in(b.ns, (x) =>
        x
          .linkSet("vb", { alias: "nsm:x" })
          .addrReplace({ link: "vb", cidr: "10.77.0.2/32" })
          .routeReplace({ dst: "10.77.0.1/32", dev: "vb" }),
      )
      .commit();
    assert.equal(r.opMs.length, 6);
    assert.deepEqual(addrsOf(a.name, "va"), ["10.77.0.1/32"]);
    assert.deepEqual(addrsOf(b.name, "vb"), ["10.77.0.2/32"]);
    assert.equal((await b.ns.linkByName("vb")).attrs.alias, "nsm:x");
    assert.deepEqual(
      (await b.ns.routes({ dev: "vb", family: 4 })).map((x) => x.dst),
      ["10.77.0.1/32"],
    );
    // addrs({ link }) reads only that link; a missing link has none
    assert.deepEqual(
      (await a.ns.addrs({ link: "va", family: 4 })).map((x) => [x.link, x.cidr]),
      [["va", "10.77.0.1/32"]],
    );
    assert.deepEqual(await a.ns.addrs({ link: "nope" }), []);
    assert.ok((await a.ns.addrs()).some((x) => x.link === "va" && x.cidr === "10.77.0.1/32"));
  },
);

test(
  "Batch.in: a refusal in the other netns undoes everything before it, and the error names that netns",
  { skip, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const a = sb.netns(),
      b = sb.netns();
    const err = await a.ns
      .batch()
      .linkAdd({ kind: "veth", attrs: { name: "va" }, peer: { name: "vb", netns: b.ns } })
      .in(b.ns, (x) =>
        x.addrReplace({ link: "vb", cidr: "10.77.0.2/32" }).addrAdd({ link: "ghost", cidr: "10.77.0.3/32" }),
      )
      .commit()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof DatapathError, String(err));
    assert.equal(err.code, "ENODEV");
    assert.equal(err.step, 2);
    assert.match(
      err.message,
      new RegExp(
        `op 3/3 addrAdd: ENODEV adding address 10\\.77\\.0\\.3/32 on ghost \\(in /run/netns/${b.name}\\).*undid 2 earlier op`,
      ),
    );
    assert.deepEqual(
      (await a.ns.links()).map((l) => l.attrs.name),
      ["lo"],
    );
    assert.deepEqual(
      (await b.ns.links()).map((l) => l.attrs.name),
      ["lo"],
    );
  },
);

test(
  "Batch.in: bad input and duplicate names across the two parts are refused before anything is sent",
  { skip, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const a = sb.netns(),
      b = sb.netns();
    const dup = await a.ns
      .batch()
      .linkAdd({ kind: "veth", attrs: { name: "va" }, peer: { name: "vb", netns: b.ns } })
      .in(b.ns, (x) => x.linkAdd({ kind: "bridge", attrs: { name: "vb" } }))
      .commit()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(dup instanceof DatapathError && dup.code === "EINVAL", String(dup));
    assert.match(dup.message, /duplicate link name "vb"/);
    const tap = await a.ns
      .batch()
      .in(b.ns, (x) => x.linkAdd({ kind: "tap", attrs: { name: "t0" } }))
      .commit()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(tap instanceof DatapathError && tap.code === "EINVAL", String(tap));
    const bad = await a.ns
      .batch()
      .in(b.ns, (x) => x.addrAdd({ link: "vb", cidr: "10.77.0.300/32" }))
      .commit()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(bad instanceof DatapathError && bad.code === "EINVAL", String(bad));
    assert.deepEqual(
      (await a.ns.links()).map((l) => l.attrs.name),
      ["lo"],
    );
    assert.deepEqual(
      (await b.ns.links()).map((l) => l.attrs.name),
      ["lo"],
    );
  },
);

test(
  "commit({ ownThread }): deletes run off the libuv pool, with the same results and errors; a bad netns fd rejects",
  { skip, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const a = sb.netns(),
      b = sb.netns();
    const mk = a.ns.batch();
    for (let i = 0; i < 6; i++)
      mk.linkAdd({ kind: "veth", attrs: { name: `va${i}` }, peer: { name: `vb${i}`, netns: b.ns } });
    await mk.commit();
    // six deletes at once, each sleeping in the kernel: a create on the pool is not queued behind them
    const dels = Array.from({ length: 6 }, (_, i) => a.ns.linkDel(`va${i}`, { ownThread: true }));
    await a.ns
      .batch()
      .linkAdd({ kind: "veth", attrs: { name: "vc" }, peer: { name: "vd", netns: b.ns } })
      .commit();
    for (const r of await Promise.all(dels)) assert.equal(r.opMs.length, 1);
    assert.deepEqual((await a.ns.links()).map((l) => l.attrs.name).sort(), ["lo", "vc"]);
    const gone = await a.ns.linkDel("va0", { ownThread: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(gone instanceof DatapathError && gone.code === "ENODEV", String(gone));
    assert.match(gone.message, /op 1\/1 linkDel: ENODEV deleting link va0/);
    const { nlExec } = await import("../native.js");
    const bad = await nlExec(-1, new Uint8Array(0), [], { ownThread: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(bad instanceof Error && (bad as { code?: string }).code === "EBADF", String(bad));
  },
);

test(
  "vxlan born in another netns (linkAdd netns): alias and addresses there in the same commit; undo deletes it there",
  { skip, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const node = sb.netns(),
      wl = sb.netns();
    await node.ns
      .batch()
      .linkAdd({ kind: "bridge", attrs: { name: "br0", up: true } })
      .addrAdd({ link: "br0", cidr: "198.18.9.1/24" })
      .commit();
    await node.ns
      .batch()
      .linkAdd({
        kind: "vxlan",
        netns: wl.ns,
        attrs: { name: "vx0", up: true, mtu: 1400, alias: "nsm:v" },
        vni: 77,
        local: "198.18.9.1",
        remote: "198.18.9.2",
      })
      .in(wl.ns, (b) => b.addrReplace({ link: "vx0", cidr: "10.78.0.1/31" }))
      .commit();
    const l = await wl.ns.linkByName("vx0");
    assert.equal(l.kind, "vxlan");
    assert.equal(l.attrs.alias, "nsm:v");
    assert.equal(l.attrs.mtu, 1400);
    assert.ok(l.attrs.up);
    assert.equal(l.vxlan?.vni, 77);
    assert.deepEqual(addrsOf(wl.name, "vx0"), ["10.78.0.1/31"]);
    assert.ok(!(await node.ns.links()).some((x) => x.attrs.name === "vx0"));
    const err = await node.ns
      .batch()
      .linkAdd({
        kind: "vxlan",
        netns: wl.ns,
        attrs: { name: "vx1", up: true },
        vni: 78,
        local: "198.18.9.1",
        remote: "198.18.9.3",
      })
      .in(wl.ns, (b) => b.addrAdd({ link: "ghost", cidr: "10.78.0.3/31" }))
      .commit()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof DatapathError && err.code === "ENODEV", String(err));
    assert.deepEqual((await wl.ns.links()).map((x) => x.attrs.name).sort(), ["lo", "vx0"]);
  },
);

test(
  "linkSetTxChecksum: ethtool tx off/on on a veth in the batch's netns; a missing link is named",
  { skip, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const a = sb.netns(),
      b = sb.netns();
    await a.ns
      .batch()
      .linkAdd({ kind: "veth", attrs: { name: "va", up: true }, peer: { name: "vb", netns: b.ns, up: true } })
      .linkSetTxChecksum("va", false)
      .in(b.ns, (x) => x.linkSetTxChecksum("vb", false).linkSetTxChecksum("vb", true))
      .commit();
    await assert.rejects(
      a.ns.batch().linkSetTxChecksum("nope0", false).commit(),
      (e: DatapathError) => e.code === "ENODEV" && /SIOCETHTOOL/.test(e.message) && /nope0/.test(e.message),
    );
    await assert.rejects(a.ns.batch().linkSetTxChecksum("x".repeat(16), false).commit(), /x{16}/);
  },
);
