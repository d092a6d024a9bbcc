/**
 * Registry client chain (refresh, heal, retry), the watch cache and nsmgr's registry chain,
 * against a real registry server over gRPC (unix socket in a temp dir).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  create,
  NetworkServiceEndpointSchema,
  NetworkServiceSchema,
  type NetworkServiceEndpoint,
  type NetworkServiceEndpointResponse,
} from "../../src/api/index.js";
import { dial, newCtx, type Ctx, type NseRegistryServer } from "../../src/core/index.js";
import { deferred } from "../../src/core/testing/index.js";
import { mockClock } from "../../src/core/testing/clock.js";
import { nseEvent, watchLog } from "../helpers/watchlog.js";
import { nseRegistryClientOver, nsRegistryClient } from "../../src/registry/chains/client.js";
import { nsmgrRegistry } from "../../src/registry/chains/nsmgr.js";
import { nseWatchCache, nsWatchCache } from "../../src/registry/common/watchcache/cache.js";
import { NSE, nseQuery, readList } from "../../src/registry/tools.js";
import { registryAt } from "../helpers/registry.js";
import { createRegistry } from "../../src/registry/chains/registry.js";
import { registeredHere } from "../../src/networkservice/chains/forwarder.js";

const ctx = (ms = 5000) => newCtx({ timeoutMs: ms });
const nse = (name: string, url = "tcp://127.0.0.1:7001", services = ["icmp"]) =>
  create(NetworkServiceEndpointSchema, { name, url, networkServiceNames: services });

const events = (it: AsyncIterable<NetworkServiceEndpointResponse>) => watchLog(it, nseEvent);

/** `server` with its in-flight register calls counted, so a test on the mock clock can wait for them. */
function counted(server: NseRegistryServer) {
  let inFlight = 0,
    attempts = 0,
    failures = 0;
  let idle = deferred();
  const attempted: (() => void)[] = [];
  return {
    server: {
      ...server,
      register: async (e: NetworkServiceEndpoint, c: Ctx) => {
        inFlight++;
        attempts++;
        try {
          return await server.register(e, c);
        } catch (err) {
          failures++;
          throw err;
        } finally {
          attempted.splice(0).forEach((f) => f());
          if (--inFlight === 0) idle.resolve();
        }
      },
    } satisfies NseRegistryServer,
    get attempts() {
      return attempts;
    },
    get failures() {
      return failures;
    },
    /** resolves when no register call is on its way */
    async quiet() {
      while (inFlight > 0) {
        await idle.promise;
        idle = deferred();
      }
    },
    /** resolves after the next register call ends (ok or not) */
    nextAttempt: () => new Promise<void>((r) => attempted.push(r)),
  };
}

function tmp(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), "nsm-regc-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test(
  "client refreshes before expiry; unregister stops refreshing and removes the entry",
  { timeout: 20_000 },
  async (t) => {
    // mocked time moves only while no registration is on its way: refresh (1/3 of the 600 ms
    // period) and the registry's expiry race nothing but each other
    const clock = mockClock(t);
    const url = `unix://${tmp(t)}/reg.sock`;
    const r = await registryAt(url, 600);
    const life = new AbortController();
    const conn = dial(url);
    const reg = counted(conn.nseRegistry);
    const c = nseRegistryClientOver(reg.server, { signal: life.signal });
    const wac = new AbortController();
    try {
      const w = events(r.reg.nse.find(nseQuery({}, true), newCtx({ signal: wac.signal })));
      const stored = await c.register(nse("r-1"), ctx());
      assert.ok(stored.expirationTime);
      const t0 = clock.now();
      while (clock.now() - t0 < 3 * 600) {
        await clock.advance(50);
        await reg.quiet();
      }
      // the registrations over 3 expire periods, and never deleted in between
      await w.until((g) => g.filter((x) => x === "r-1+").length === reg.attempts);
      assert.ok(reg.attempts >= 5, `${reg.attempts - 1} refreshes in 3 periods (every 400 ms, 2/3 of one, expected)`);
      assert.ok(!w.got.includes("r-1-"), `deleted while refreshed: ${w.got.join(" ")}`);
      await c.unregister(stored, ctx());
      await w.until((g) => g.includes("r-1-"));
      const n = w.got.length,
        before = reg.attempts;
      for (let i = 0; i < 40; i++) {
        await clock.advance(50); // four periods: no refresh may come back
        await reg.quiet();
      }
      assert.equal(reg.attempts, before, "no register call after unregister");
      await r.reg.nse.register(nse("marker"), ctx()); // events come in order: all before it are in
      await w.until((g) => g.includes("marker+"));
      assert.deepEqual(w.got.slice(n), ["marker+"], "no event for r-1 after unregister");
    } finally {
      wac.abort();
      await c.close();
      conn.close();
      life.abort();
      await r.down();
    }
  },
);

test(
  "client re-registers after a registry restart (heal) and retries while it is down",
  { timeout: 20_000 },
  async (t) => {
    const url = `unix://${tmp(t)}/reg.sock`;
    const r = await registryAt(url);
    const life = new AbortController();
    const conn = dial(url);
    const reg = counted(conn.nseRegistry);
    const c = nseRegistryClientOver(reg.server, { signal: life.signal });
    const cns = nsRegistryClient({ url, signal: life.signal });
    try {
      await c.register(nse("h-1"), ctx());
      await cns.register(create(NetworkServiceSchema, { name: "icmp" }), ctx());
      await r.down();
      // a registration while the registry is down waits (retry) until it is back
      const failed = reg.nextAttempt();
      const late = c.register(nse("h-2"), ctx(10_000));
      await failed;
      assert.ok(reg.failures >= 1, "the registration failed while the registry was down");
      await r.up();
      await late;
      const wac = new AbortController();
      try {
        const w = events(r.reg.nse.find(nseQuery({}, true), newCtx({ signal: wac.signal })));
        await w.until((g) => g.includes("h-1+") && g.includes("h-2+"));
      } finally {
        wac.abort();
      }
      // NS heal works the same way (it may still be on its way): a watch sees it arrive
      const nac = new AbortController();
      try {
        const ns = watchLog(
          r.reg.ns.find(
            { $typeName: "registry.NetworkServiceQuery", watch: true, networkService: create(NetworkServiceSchema) },
            newCtx({ signal: nac.signal }),
          ),
          (x) => x.networkService!.name,
        );
        await ns.until((g) => g.includes("icmp"), 5000);
      } finally {
        nac.abort();
      }
    } finally {
      await c.close();
      conn.close();
      await cns.close();
      life.abort();
      await r.down();
    }
  },
);

test(
  "watch cache mirrors the registry, reconnects, and drops what vanished while it was away",
  { timeout: 20_000 },
  async (t) => {
    const url = `unix://${tmp(t)}/reg.sock`;
    const r = await registryAt(url);
    const conn = dial(url);
    const life = new AbortController();
    const cache = nseWatchCache(conn.nseRegistry, { signal: life.signal });
    const nsCache = nsWatchCache(conn.nsRegistry, { signal: life.signal });
    // re-checked on every change of either cache, not on a timer
    const until = (pred: () => boolean, ms = 8000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pred()) return;
          done();
          resolve();
        };
        const offs = [cache.onChange(check), nsCache.onChange(check)];
        const deadline = setTimeout(() => {
          done();
          reject(new Error(`cache did not converge: ${cache.find().map((e) => e.name)}`));
        }, ms);
        const done = () => {
          clearTimeout(deadline);
          offs.forEach((off) => off());
        };
        check();
      });
    try {
      await r.reg.nse.register(nse("c-1"), ctx());
      await r.reg.ns.register(create(NetworkServiceSchema, { name: "icmp" }), ctx());
      await cache.synced;
      await nsCache.synced;
      assert.deepEqual(
        cache.find().map((e) => e.name),
        ["c-1"],
      );
      await until(() => nsCache.get("icmp") !== undefined);
      await r.reg.nse.register(nse("c-2", "tcp://127.0.0.1:7002", ["other"]), ctx());
      await until(() => cache.size === 2);
      assert.deepEqual(
        cache.find(create(NetworkServiceEndpointSchema, { networkServiceNames: ["other"] })).map((e) => e.name),
        ["c-2"],
      );
      await r.reg.nse.unregister(nse("c-1"), ctx());
      await until(() => cache.get("c-1") === undefined);
      // registry restarts empty (memory): c-2 vanished without a deleted event; c-3 is new
      await r.down();
      await r.up();
      await r.reg.nse.register(nse("c-3"), ctx());
      await until(() => cache.get("c-3") !== undefined && cache.get("c-2") === undefined);
      assert.deepEqual(
        cache.find().map((e) => e.name),
        ["c-3"],
      );
    } finally {
      cache.close();
      nsCache.close();
      life.abort();
      conn.close();
      await r.down();
    }
  },
);

test(
  "nsmgr registry: asked whether an NSE was registered through it, localbypass answers from its own table; a registry does not answer",
  { timeout: 10_000 },
  async () => {
    const life = new AbortController();
    const reg = nsmgrRegistry({ nsmgrUrl: "tcp://10.0.0.1:5001", signal: life.signal });
    const plain = await createRegistry({ signal: life.signal });
    try {
      await reg.nse.register(nse("nse-tcp", "tcp://10.0.0.1:7001"), ctx());
      await reg.nse.register(nse("fwd-0", "unix:///run/fwd-0.sock", ["forwarder"]), ctx());
      assert.equal(await registeredHere(reg.nse, "nse-tcp", ctx()), true);
      assert.equal(await registeredHere(reg.nse, "fwd-0", ctx()), true);
      assert.equal(await registeredHere(reg.nse, "nse-b@domain2", ctx()), false);
      await plain.nse.register(nse("nse-tcp", "tcp://10.0.0.1:7001"), ctx());
      assert.equal(await registeredHere(plain.nse, "nse-tcp", ctx()), undefined, "no answer: not an nsmgr");
    } finally {
      await plain.close();
      await reg.close();
      life.abort();
    }
  },
);

test(
  "nsmgr registry in memory: localbypass returns real URLs, finds local NSEs by nsmgr URL",
  { timeout: 10_000 },
  async () => {
    const life = new AbortController();
    const reg = nsmgrRegistry({ nsmgrUrl: "tcp://10.0.0.1:5001", signal: life.signal });
    try {
      const res = await reg.nse.register(nse("fwd-1", "unix:///run/fwd-1.sock", ["forwarder"]), ctx());
      assert.equal(res.url, "unix:///run/fwd-1.sock");
      assert.ok(res.expirationTime);
      const byUrl = await readList(
        reg.nse.find(nseQuery({ networkServiceNames: ["forwarder"], url: "tcp://10.0.0.1:5001" }), ctx()),
        NSE.itemOf,
      );
      assert.deepEqual(
        byUrl.map((e) => [e.name, e.url]),
        [["fwd-1", "unix:///run/fwd-1.sock"]],
      );
      await assert.rejects(reg.nse.register(nse("bad", "nope"), ctx()), /URL/);
      await reg.nse.unregister(res, ctx());
      assert.deepEqual(await readList(reg.nse.find(nseQuery({}), ctx()), NSE.itemOf), []);
    } finally {
      await reg.close();
      life.abort();
    }
  },
);

test(
  "nsmgr registry with a remote registry: upstream sees the nsmgr URL; an NSE that stops refreshing is unregistered upstream",
  { timeout: 20_000 },
  async (t) => {
    const url = `unix://${tmp(t)}/reg.sock`;
    const r = await registryAt(url);
    const life = new AbortController();
    const reg = nsmgrRegistry({
      nsmgrUrl: "tcp://10.0.0.1:5001",
      registryUrl: url,
      expirePeriodMs: 700,
      signal: life.signal,
    });
    const wac = new AbortController();
    try {
      const w = events(r.reg.nse.find(nseQuery({}, true), newCtx({ signal: wac.signal })));
      const res = await reg.nse.register(nse("nse-1", "unix:///run/nse-1.sock"), ctx());
      assert.equal(res.url, "unix:///run/nse-1.sock");
      const upstream = await readList(r.reg.nse.find(nseQuery({ name: "nse-1" }), ctx()), NSE.itemOf);
      assert.equal(upstream[0]?.url, "tcp://10.0.0.1:5001");
      const local = await readList(reg.nse.find(nseQuery({ name: "nse-1" }), ctx()), NSE.itemOf);
      assert.equal(local[0]?.url, "unix:///run/nse-1.sock");
      await reg.ns.register(create(NetworkServiceSchema, { name: "icmp", payload: "IP" }), ctx());
      assert.equal(
        (
          await readList(r.reg.ns.find({ $typeName: "registry.NetworkServiceQuery", watch: false }, ctx()), (x) => ({
            item: x.networkService,
            deleted: x.deleted,
          }))
        )[0]?.name,
        "icmp",
      );
      // no refresh from the NSE: nsmgr's expire unregisters it upstream
      await w.until((g) => g.includes("nse-1-"));
      // the nsmgr forgets its local entry once that upstream unregister call has returned: no
      // event for it, so yield to I/O until then
      const end = performance.now() + 5000;
      while (reg.localBypass.size) {
        assert.ok(performance.now() < end, "nsmgr still knows nse-1");
        await new Promise((res) => setImmediate(res));
      }
    } finally {
      wac.abort();
      await reg.close();
      life.abort();
      await r.down();
    }
  },
);
