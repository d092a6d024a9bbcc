/**
 * `nsm registry` as a real process: config errors name the variable; killed with SIGKILL and
 * restarted on the same etcd, its entries are still there and still expire; SIGTERM shuts it
 * down cleanly (exit 0, socket removed).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, NetworkServiceEndpointSchema } from "../../src/api/index.js";
import { dial, newCtx } from "../../src/core/index.js";
import { readConfig } from "../../src/cmd/registry.js";
import { NSE, nseQuery, readList } from "../../src/registry/tools.js";
import { startEtcd } from "../helpers/etcd.js";

const root = new URL("../..", import.meta.url).pathname;

test("config errors name the variable and the value", { timeout: 5000 }, () => {
  assert.throws(() => readConfig({ NSM_REGISTRY_STORE: "redis://x:1" }), /NSM_REGISTRY_STORE="redis:\/\/x:1"/);
  assert.throws(
    () => readConfig({ NSM_REGISTRY_STORE: "etcd://nohost" }),
    /NSM_REGISTRY_STORE.*"nohost" is not host:port/,
  );
  assert.throws(() => readConfig({ NSM_EXPIRE_PERIOD: "fast" }), /NSM_EXPIRE_PERIOD="fast"/);
  assert.throws(() => readConfig({ NSM_LISTEN_ON: "http://x" }), /NSM_LISTEN_ON/);
  const c = readConfig({ NSM_EXPIRE_PERIOD: "1m30s", NSM_REGISTRY_STORE: "etcd://127.0.0.1:2379,127.0.0.2:2379" });
  assert.equal(c.expirePeriodMs, 90_000);
  assert.deepEqual(readConfig({}).listenOn, ["unix:///listen.on.socket"]);
});

function spawnRegistry(env: Record<string, string>): {
  proc: ChildProcess;
  started: Promise<void>;
  exited: Promise<number | null>;
} {
  const proc = spawn(process.execPath, [join(root, "bin/nsm.mjs"), "registry"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  const started = new Promise<void>((resolve, reject) => {
    proc.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.includes("Startup completed")) resolve();
    });
    proc.once("exit", (code) => reject(new Error(`nsm registry exited (${code}): ${err}`)));
  });
  started.catch(() => {});
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  return { proc, started, exited };
}

test(
  "nsm registry killed and restarted on etcd keeps its entries and still expires them; SIGTERM exits cleanly",
  { skip: !existsSync("/usr/bin/etcd") && "etcd not installed", timeout: 90_000 },
  async (t) => {
    const etcd = await startEtcd();
    const dir = mkdtempSync(join(tmpdir(), "nsm-regcmd-"));
    const procs: ChildProcess[] = [];
    t.after(async () => {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
      await etcd.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const sock = join(dir, "registry.sock");
    const env = {
      NSM_LISTEN_ON: `unix://${sock}`,
      NSM_REGISTRY_STORE: `etcd://${etcd.hostPort}`,
      NSM_EXPIRE_PERIOD: "3s",
      NSM_LOG_LEVEL: "WARN",
    };
    const ctx = () => newCtx({ timeoutMs: 5000 });

    const first = spawnRegistry({ ...env, NSM_LOG_LEVEL: "INFO" });
    procs.push(first.proc);
    await first.started;
    const conn = dial(`unix://${sock}`);
    try {
      await conn.nseRegistry.register(
        create(NetworkServiceEndpointSchema, { name: "survivor", url: "tcp://127.0.0.1:7001" }),
        ctx(),
      );
      first.proc.kill("SIGKILL");
      await first.exited;

      const second = spawnRegistry({ ...env, NSM_LOG_LEVEL: "INFO" });
      procs.push(second.proc);
      await second.started;
      const found = await readList(conn.nseRegistry.find(nseQuery({}), ctx()), NSE.itemOf);
      assert.deepEqual(
        found.map((e) => e.name),
        ["survivor"],
      );
      // not refreshed: the new process expires it (≤ 3 s after the first Register)
      const wac = new AbortController();
      let deleted = false;
      try {
        for await (const r of conn.nseRegistry.find(
          nseQuery({ name: "survivor" }, true),
          newCtx({ signal: wac.signal, timeoutMs: 15_000 }),
        )) {
          if (r.deleted) {
            deleted = true;
            break;
          }
        }
      } finally {
        wac.abort();
      }
      assert.ok(deleted, "expired entry was deleted");
      second.proc.kill("SIGTERM");
      assert.equal(await second.exited, 0);
      assert.equal(existsSync(sock), false, "socket removed on shutdown");
    } finally {
      conn.close();
    }
  },
);

test(
  "nsm registry with live fd-passing clients (watchers and registers in flight) exits 0 on SIGTERM",
  { timeout: 60_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "nsm-regcmd-fd-"));
    const sock = join(dir, "registry.sock");
    const reg = spawnRegistry({
      NSM_LISTEN_ON: `unix://${sock}`,
      NSM_REGISTRY_STORE: "memory",
      NSM_GRPCFD: "true",
      NSM_LOG_LEVEL: "INFO",
    });
    const conns = Array.from({ length: 4 }, () => dial(`unix://${sock}`));
    const wac = new AbortController();
    t.after(() => {
      wac.abort();
      for (const c of conns) c.close();
      if (reg.proc.exitCode === null && reg.proc.signalCode === null) reg.proc.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    });
    await reg.started;
    // watchers on every channel: the server keeps writing to these fd-passing sockets
    const watches = conns.map(async (c) => {
      try {
        for await (const _ of c.nseRegistry.find(nseQuery({}, true), newCtx({ signal: wac.signal }))) void _;
      } catch {
        // the registry goes away under them: expected
      }
    });
    // registrations keep every socket busy in both directions while SIGTERM lands
    let stop = false;
    const load = conns.map(async (c, k) => {
      for (let i = 0; !stop; i++) {
        try {
          await c.nseRegistry.register(
            create(NetworkServiceEndpointSchema, { name: `nse-${k}-${i % 50}`, url: "tcp://127.0.0.1:7001" }),
            newCtx({ timeoutMs: 2000 }),
          );
        } catch {
          return;
        }
      }
    });
    await new Promise((r) => setTimeout(r, 500)); // real process: let traffic flow before the signal
    const stderr: string[] = [];
    reg.proc.stderr!.on("data", (d: Buffer) => stderr.push(d.toString()));
    reg.proc.kill("SIGTERM");
    const code = await reg.exited;
    stop = true;
    wac.abort();
    await Promise.all([...watches, ...load]);
    assert.equal(code, 0, `nsm registry ended with ${code ?? reg.proc.signalCode}: ${stderr.join("").slice(-800)}`);
    assert.equal(existsSync(sock), false, "socket removed on shutdown");
  },
);
