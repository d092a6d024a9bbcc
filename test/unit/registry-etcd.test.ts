/**
 * The etcd backend under faults: etcd restarted during a watch (no lost, no duplicated event),
 * a registry replaced on the same etcd (entries survive, expiry still works), two registry
 * replicas serving one mesh. Needs /usr/bin/etcd; a throwaway etcd on loopback per test.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import {
  create,
  NetworkServiceEndpointSchema,
  timestampFromMs,
  type NetworkServiceEndpointResponse,
} from "../../src/api/index.js";
import { newCtx } from "../../src/core/index.js";
import { nseRegistryClientOver } from "../../src/registry/chains/client.js";
import { createRegistry } from "../../src/registry/chains/registry.js";
import { NSE, nseQuery, readList } from "../../src/registry/tools.js";
import { nseEvent, watchLog } from "../helpers/watchlog.js";
import { startEtcd } from "../helpers/etcd.js";

const skip = !existsSync("/usr/bin/etcd") && "etcd not installed";
const ctx = (ms = 5000) => newCtx({ timeoutMs: ms });
const nse = (name: string, expMs?: number) =>
  create(NetworkServiceEndpointSchema, {
    name,
    url: "tcp://127.0.0.1:7001",
    networkServiceNames: ["icmp"],
    expirationTime: expMs === undefined ? undefined : timestampFromMs(expMs),
  });

const collect = (it: AsyncIterable<NetworkServiceEndpointResponse>) => watchLog(it, nseEvent);

test(
  "etcd restarted during a watch: watchers continue with no lost and no duplicated event",
  { skip, timeout: 60_000 },
  async () => {
    const etcd = await startEtcd();
    const ac = new AbortController();
    const wac = new AbortController();
    try {
      const store = `etcd://${etcd.hostPort}`;
      const a = await createRegistry({ name: "a", store, signal: ac.signal });
      const b = await createRegistry({ name: "b", store, signal: ac.signal });
      await Promise.all([a.ready, b.ready]);
      const w = collect(a.nse.find(nseQuery({}, true), newCtx({ signal: wac.signal })));
      // writes go through b with the client chain's retry, so they wait out the restart
      const writer = nseRegistryClientOver(b.nse, { signal: ac.signal, refresh: false });
      const N = 60;
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < N; i++) {
        if (i === 20) await etcd.restart(); // a's watch is cut while b keeps writing
        writes.push(writer.register(nse(`n-${String(i).padStart(2, "0")}`), ctx(20_000)));
        if (i % 10 === 9) await Promise.all(writes.splice(0));
      }
      await Promise.all(writes);
      await w.until((g) => g.length >= N, 15_000);
      // events come in revision order: once a later write is seen, a late duplicate would be in
      await writer.register(nse("zz-marker"), ctx());
      await w.until((g) => g.includes("zz-marker+"));
      assert.equal(w.got.pop(), "zz-marker+");
      const names = w.got.map((g) => g.slice(0, -1));
      assert.equal(w.got.length, N, `events: ${w.got.join(" ")}`);
      assert.equal(new Set(names).size, N, "no duplicates");
      assert.ok(w.got.every((g) => g.endsWith("+")));
      await writer.close();
      await a.close();
      await b.close();
    } finally {
      wac.abort();
      ac.abort();
      await etcd.stop();
    }
  },
);

test(
  "registry replaced on the same etcd: entries are still there and expiry still works",
  { skip, timeout: 60_000 },
  async () => {
    const etcd = await startEtcd();
    const ac1 = new AbortController(),
      ac2 = new AbortController(),
      wac = new AbortController();
    try {
      const store = `etcd://${etcd.hostPort}/nsm-test`;
      const r1 = await createRegistry({ store, signal: ac1.signal });
      await r1.ready;
      await r1.nse.register(nse("long"), ctx());
      await r1.nse.register(nse("short", Date.now() + 1500), ctx());
      ac1.abort();
      await r1.close(); // the registry goes away (its timers with it)
      const r2 = await createRegistry({ store, signal: ac2.signal });
      await r2.ready;
      const now = (await readList(r2.nse.find(nseQuery({}), ctx()), NSE.itemOf)).map((e) => e.name).sort();
      assert.deepEqual(now, ["long", "short"]);
      const w = collect(r2.nse.find(nseQuery({}, true), newCtx({ signal: wac.signal })));
      await w.until((g) => g.includes("short-"));
      assert.deepEqual(
        (await readList(r2.nse.find(nseQuery({}), ctx()), NSE.itemOf)).map((e) => e.name),
        ["long"],
      );
      await r2.close();
    } finally {
      wac.abort();
      ac1.abort();
      ac2.abort();
      await etcd.stop();
    }
  },
);

test(
  "two registry replicas on one etcd serve one mesh; an expiry is deleted once",
  { skip, timeout: 60_000 },
  async () => {
    const etcd = await startEtcd();
    const ac = new AbortController(),
      wac = new AbortController();
    try {
      const store = `etcd://${etcd.hostPort}`;
      const a = await createRegistry({ store, signal: ac.signal, expirePeriodMs: 800 });
      const b = await createRegistry({ store, signal: ac.signal, expirePeriodMs: 800 });
      await Promise.all([a.ready, b.ready]);
      const wa = collect(a.nse.find(nseQuery({}, true), newCtx({ signal: wac.signal })));
      const wb = collect(b.nse.find(nseQuery({}, true), newCtx({ signal: wac.signal })));
      await a.nse.register(nse("x"), ctx());
      await wb.until((g) => g.includes("x+"));
      await b.nse.unregister(nse("x"), ctx());
      await wa.until((g) => g.includes("x-"));
      await b.nse.register(nse("y"), ctx()); // both replicas have a timer for y
      await wa.until((g) => g.includes("y-"));
      await wb.until((g) => g.includes("y-"));
      // a second deletion of y would come before a later write's event (revision order)
      await b.nse.register(nse("z"), ctx());
      await wa.until((g) => g.includes("z+"));
      await wb.until((g) => g.includes("z+"));
      assert.deepEqual(wa.got.slice(0, 5), ["x+", "x-", "y+", "y-", "z+"]);
      assert.deepEqual(wb.got.slice(0, 5), ["x+", "x-", "y+", "y-", "z+"]);
      await a.close();
      await b.close();
    } finally {
      wac.abort();
      ac.abort();
      await etcd.stop();
    }
  },
);
