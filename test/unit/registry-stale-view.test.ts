/**
 * A registry view built from a watch must not outlive what the watch missed (issue 21, item 9):
 * a watch relayed by nsmgr across a registry restart, a stream that goes silent, and a lookup
 * whose cached endpoints are all dead. Real registry and nsmgr registry chains over gRPC (unix
 * sockets in a temp dir).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, NetworkServiceEndpointSchema, type Connection } from "../../src/api/index.js";
import { chain, dial, newCtx, NsmError, serve, status, type NseRegistryServer } from "../../src/core/index.js";
import { newRequest, testCtx } from "../../src/core/testing/index.js";
import { discoverServer } from "../../src/networkservice/common/discover/server.js";
import { cachedLookup } from "../../src/networkservice/utils/cachedlookup.js";
import { CLIENT_URL } from "../../src/networkservice/utils/keys.js";
import { nsmgrRegistry } from "../../src/registry/chains/nsmgr.js";
import { nseWatchCache } from "../../src/registry/common/watchcache/cache.js";
import { registryAt } from "../helpers/registry.js";

const ctx = (ms = 5000) => newCtx({ timeoutMs: ms });
const nse = (name: string, url: string) =>
  create(NetworkServiceEndpointSchema, { name, url, networkServiceNames: ["icmp"] });

function tmp(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), "nsm-stale-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function until(pred: () => boolean, ms: number, what: () => string) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`${what()} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A registry whose watch streams stop relaying (but stay open) once `silent.on` is set. */
function silenceable(inner: NseRegistryServer): NseRegistryServer & { silent: { on: boolean } } {
  const silent = { on: false };
  return {
    silent,
    register: (e, c) => inner.register(e, c),
    unregister: (e, c) => inner.unregister(e, c),
    find(q, c) {
      if (!q.watch) return inner.find(q, c);
      return (async function* () {
        for await (const r of inner.find(q, c)) if (!silent.on) yield r;
      })();
    },
  };
}

test(
  "a watch relayed by nsmgr drops the entries a restarted registry lost (the relay must not re-open silently)",
  { timeout: 30_000 },
  async (t) => {
    const dir = tmp(t);
    const regUrl = `unix://${dir}/reg.sock`;
    const mgrUrl = `unix://${dir}/nsmgr.sock`;
    const r = await registryAt(regUrl);
    const life = new AbortController();
    const mgrReg = nsmgrRegistry({ nsmgrUrl: mgrUrl, registryUrl: regUrl, signal: life.signal });
    const srv = await serve([mgrUrl], { nseRegistry: mgrReg.nse, nsRegistry: mgrReg.ns });
    const conn = dial(mgrUrl);
    // what a forwarder holds: a cache over its nsmgr; no periodic check, so only the relay can tell it
    const cache = nseWatchCache(conn.nseRegistry, { signal: life.signal, verifyMs: 0 });
    try {
      // registered straight at the registry (another node's NSE): nothing here re-registers it
      await r.reg.nse.register(nse("remote-1", "tcp://127.0.0.1:7001"), ctx());
      await cache.synced;
      await until(
        () => cache.get("remote-1") !== undefined,
        5000,
        () => "remote-1 never reached the cache",
      );
      await r.down();
      await r.up(); // empty: remote-1 is gone and no watcher gets a deleted event for it
      await r.reg.nse.register(nse("remote-2", "tcp://127.0.0.1:7002"), ctx());
      await until(
        () => cache.get("remote-2") !== undefined && cache.get("remote-1") === undefined,
        5000,
        () => `cache holds [${cache.find().map((e) => e.name)}], the registry only remote-2`,
      );
    } finally {
      cache.close();
      conn.close();
      await srv.close();
      await mgrReg.close();
      life.abort();
      await r.down();
    }
  },
);

test(
  "a watch cache notices a silent stream: a periodic listing finds what it missed",
  { timeout: 20_000 },
  async (t) => {
    const dir = tmp(t);
    const url = `unix://${dir}/reg.sock`;
    const r = await registryAt(url);
    const quiet = silenceable(r.reg.nse);
    const srv = await serve([`unix://${dir}/quiet.sock`], { nseRegistry: quiet, nsRegistry: r.reg.ns });
    const conn = dial(`unix://${dir}/quiet.sock`);
    const life = new AbortController();
    const cache = nseWatchCache(conn.nseRegistry, { signal: life.signal, verifyMs: 300 });
    try {
      await r.reg.nse.register(nse("nse-1", "unix:///old.sock"), ctx());
      await cache.synced;
      await until(
        () => cache.get("nse-1")?.url === "unix:///old.sock",
        5000,
        () => "nse-1 never reached the cache",
      );
      quiet.silent.on = true;
      await r.reg.nse.register(nse("nse-1", "unix:///new.sock"), ctx()); // restarted under a new socket
      await until(
        () => cache.get("nse-1")?.url === "unix:///new.sock",
        2000,
        () => `the cache still dials ${cache.get("nse-1")?.url}`,
      );
    } finally {
      cache.close();
      conn.close();
      await srv.close();
      life.abort();
      await r.down();
    }
  },
);

test(
  "discover: when every endpoint the cache named is unreachable, it asks the registry again",
  { timeout: 20_000 },
  async (t) => {
    const dir = tmp(t);
    const r = await registryAt(`unix://${dir}/reg.sock`);
    const quiet = silenceable(r.reg.nse);
    const life = new AbortController();
    // the periodic check is off: only the failed lookup may trigger the re-read
    const lookup = cachedLookup({ ns: r.reg.ns, nse: quiet }, { signal: life.signal, verifyMs: 0 });
    const dialled: string[] = [];
    const server = chain(discoverServer(lookup), {
      async request(req, c) {
        const url = c.get(CLIENT_URL)!;
        dialled.push(url);
        if (url === "unix:///old.sock") throw new NsmError(status.UNAVAILABLE, "connect ECONNREFUSED /old.sock");
        return req.connection as Connection;
      },
    });
    try {
      await r.reg.nse.register(nse("nse-1", "unix:///old.sock"), ctx());
      // the cache has it (the first lookup with a miss falls back to a live Find; wait for the watch)
      const end = Date.now() + 5000;
      for (;;) {
        const hit = await lookup.nse.find(
          { $typeName: "registry.NetworkServiceEndpointQuery", watch: false, networkServiceEndpoint: nse("nse-1", "") },
          ctx(),
        );
        let n = 0;
        for await (const _ of hit) n++;
        if (n || Date.now() > end) break;
      }
      quiet.silent.on = true;
      await r.reg.nse.register(nse("nse-1", "unix:///new.sock"), ctx());
      await server.request(
        newRequest("c-1", { networkService: "icmp", endpoint: "nse-1" }),
        testCtx({ timeoutMs: 5000 }),
      );
      assert.deepEqual(dialled, ["unix:///old.sock", "unix:///new.sock"]);
    } finally {
      lookup.close();
      life.abort();
      await r.down();
    }
  },
);
