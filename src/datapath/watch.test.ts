// Root only: address and route notifications of a netns, from the real kernel.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rootSkip, sandbox } from "./testing/index.js";
import { decodeAddrRouteChanges, watchAddrsRoutes, type AddrRouteChange } from "./watch.js";

const skip = rootSkip;

/** resolves with the changes seen once `pred` holds for one of them */
function until(seen: AddrRouteChange[], pred: (e: AddrRouteChange) => boolean, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = () => {
      if (seen.some(pred)) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error(`no matching change in ${ms} ms: ${JSON.stringify(seen)}`));
      setTimeout(poll, 10);
    };
    poll();
  });
}

test(
  "watchAddrsRoutes: adding and removing an address and a route on a link is reported with its index",
  { skip, timeout: 30_000 },
  async (t) => {
    const sb = sandbox(t);
    const a = sb.netns();
    await a.ns
      .batch()
      .linkAdd({ kind: "bridge", attrs: { name: "w0", up: true } })
      .commit();
    const index = (await a.ns.linkByName("w0")).attrs.index!;
    const seen: AddrRouteChange[] = [];
    const w = watchAddrsRoutes(a.ns, (e) => seen.push(e));
    t.after(() => w.close());

    await a.ns
      .batch()
      .addrAdd({ link: "w0", cidr: "10.78.0.1/32" })
      .routeReplace({ dst: "10.78.1.0/24", dev: "w0" })
      .commit();
    await until(seen, (e) => e.kind === "addr" && e.op === "new" && e.family === 4 && e.index === index);
    await until(seen, (e) => e.kind === "route" && e.op === "new" && e.family === 4 && e.index === index);

    await a.ns
      .batch()
      .routeDel({ dst: "10.78.1.0/24", dev: "w0" })
      .addrDel({ link: "w0", cidr: "10.78.0.1/32" })
      .commit();
    await until(seen, (e) => e.kind === "route" && e.op === "del" && e.index === index);
    await until(seen, (e) => e.kind === "addr" && e.op === "del" && e.index === index);

    await a.ns.batch().addrAdd({ link: "w0", cidr: "fd78::1/128" }).commit();
    await until(seen, (e) => e.kind === "addr" && e.op === "new" && e.family === 6 && e.index === index);
    assert.ok(!seen.some((e) => e.kind === "overrun"), "nothing lost");

    // after close nothing more arrives
    w.close();
    const n = seen.length;
    await a.ns.batch().addrAdd({ link: "w0", cidr: "10.78.0.2/32" }).commit();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(seen.length, n);
  },
);

test("watchAddrsRoutes: another namespace's changes are not reported", { skip, timeout: 30_000 }, async (t) => {
  const sb = sandbox(t);
  const a = sb.netns(),
    b = sb.netns();
  await b.ns
    .batch()
    .linkAdd({ kind: "bridge", attrs: { name: "w1", up: true } })
    .commit();
  const seen: AddrRouteChange[] = [];
  const w = watchAddrsRoutes(a.ns, (e) => seen.push(e));
  t.after(() => w.close());
  await b.ns.batch().addrAdd({ link: "w1", cidr: "10.79.0.1/32" }).commit();
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(seen, []);
});

test("decodeAddrRouteChanges: skips other messages and short frames", () => {
  // RTM_NEWLINK (16), then RTM_DELADDR (21) of an AF_INET6 address on index 7
  const frame = (type: number, body: number[]) => {
    const b = Buffer.alloc(16 + body.length);
    b.writeUInt32LE(b.length, 0);
    b.writeUInt16LE(type, 4);
    Buffer.from(body).copy(b, 16);
    return b;
  };
  const buf = Buffer.concat([frame(16, new Array(16).fill(0)), frame(21, [10, 128, 0, 0, 7, 0, 0, 0]), frame(24, [2])]);
  assert.deepEqual(decodeAddrRouteChanges(buf), [{ kind: "addr", op: "del", family: 6, index: 7 }]);
});
