// Root only: the addon's ICMP echo from inside a netns (the NSC's data-plane liveness check).
import { test } from "node:test";
import assert from "node:assert/strict";
import { rootSkip, sandbox } from "../../src/datapath/testing/index.js";
import { icmpEcho, NativeError } from "../../src/native.js";

test(
  "icmpEcho answers from inside a netns over the given interface, v4 and v6",
  { skip: rootSkip, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const a = sb.netns(),
      b = sb.netns();
    await a.ns
      .batch()
      .linkAdd({ kind: "veth", attrs: { name: "e0", up: true }, peer: { name: "e1", netns: b.ns, up: true } })
      .addrAdd({ link: "e0", cidr: "192.0.2.1/24" })
      .addrAdd({ link: "e0", cidr: "fd00:2::1/64" })
      .commit();
    await b.ns
      .batch()
      .addrAdd({ link: "e1", cidr: "192.0.2.2/24" })
      .addrAdd({ link: "e1", cidr: "fd00:2::2/64" })
      .commit();
    const path = `/run/netns/${a.name}`;

    const alive = await icmpEcho(path, { dst: "192.0.2.2", src: "192.0.2.1", ifname: "e0", timeoutMs: 1000 });
    assert.equal(alive.received, 1);
    assert.ok(alive.rttMs !== undefined && alive.rttMs < 1000);

    // nobody has that address: no answer (ARP fails), resolved after the timeout, not an error
    const t0 = performance.now();
    const dead = await icmpEcho(path, { dst: "192.0.2.3", ifname: "e0", timeoutMs: 300, count: 3 });
    assert.equal(dead.received, 0);
    assert.ok(performance.now() - t0 >= 290 && performance.now() - t0 < 2000, `took ${performance.now() - t0} ms`);

    // the address is there but not through that interface
    await a.ns.linkAdd({ kind: "veth", attrs: { name: "d0", up: true }, peer: { name: "d1", up: true } });
    assert.equal((await icmpEcho(path, { dst: "192.0.2.2", ifname: "d0", timeoutMs: 300 })).received, 0);

    // v6 (DAD may still hold the addresses for a moment: no source, a longer window)
    const v6 = await icmpEcho(path, { dst: "fd00:2::2", ifname: "e0", timeoutMs: 5000, count: 10 });
    assert.equal(v6.received, 1);

    await assert.rejects(
      icmpEcho(path, { dst: "192.0.2.2", ifname: "nope0", timeoutMs: 300 }),
      (e: unknown) => e instanceof NativeError && e.code === "ENODEV" && /SO_BINDTODEVICE/.test(e.syscall),
    );
    await assert.rejects(
      icmpEcho("/run/netns/no-such-netns-x", { dst: "192.0.2.2", timeoutMs: 300 }),
      (e: unknown) => e instanceof NativeError && e.code === "ENOENT",
    );
    await assert.rejects(icmpEcho(path, { dst: "not-an-ip", timeoutMs: 300 }), /EINVAL/);
  },
);
