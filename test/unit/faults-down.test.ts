// `nsm down` (destroyMesh) removes only the sockets that are its own (issue 21 item 4): one that
// a live server answers on is left alone and reported; a stale one goes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { destroyMesh, type MeshState } from "../../src/mesh/index.js";

test("destroyMesh leaves a socket another server listens on, removes a stale one", { timeout: 20_000 }, async (t) => {
  const base = mkdtempSync(join(tmpdir(), "nsm-down-"));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const live = join(base, "live.sock");
  const stale = join(base, "stale.sock");
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(live, r));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  // a process that dies without unlinking its socket leaves a stale file
  const dead = spawnSync(process.execPath, [
    "-e",
    `require("net").createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, "SIGKILL"))`,
  ]);
  assert.equal(dead.signal, "SIGKILL");
  assert.ok(existsSync(stale));
  const dir = join(base, "mesh");
  mkdirSync(dir);
  const state: MeshState = {
    id: "t-down",
    dir,
    stateFile: join(base, "mesh.json"),
    fabric: "t-down-fab",
    netns: [],
    procs: [],
    files: [live, stale],
    nodes: [],
    registryUrl: "tcp://127.0.0.1:1",
  };
  writeFileSync(state.stateFile, JSON.stringify(state));
  await assert.rejects(destroyMesh(state), /live\.sock: left alone, another server listens on it/);
  assert.ok(existsSync(live), "the live socket stays");
  assert.ok(!existsSync(stale), "the stale socket goes");
  assert.ok(!existsSync(dir) && !existsSync(state.stateFile), "the mesh's own dir and state go");
});
