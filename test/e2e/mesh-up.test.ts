/**
 * `nsm up` → an nsc in a namespace made by hand (only NSM_NETWORK_SERVICES and the socket set)
 * pings the NSE → the NSE and a forwarder are SIGKILLed: the supervisor restarts them, records
 * their new pids, the nsc pings again → `nsm down` stops exactly the mesh's processes (the
 * restarted ones included) and leaves nothing: no process, namespace, socket or state. The test
 * points nsm up at its own state file, socket and name prefix so it never meets a real one.
 * Root only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { cleanupStack, ip, ping, rootSkip, uniq } from "../../src/datapath/testing/index.js";
import { alive, destroyMesh, readMeshState } from "../../src/mesh/index.js";
import { pingUntil, upNsc } from "../helpers/workloads.js";

const bin = new URL("../../bin/nsm.mjs", import.meta.url).pathname;
const exec = promisify(execFile);

test(
  "nsm up, a hand-made client namespace pings the NSE, nsm down leaves nothing",
  { skip: rootSkip, timeout: 90_000 },
  async (t) => {
    const cleanup = cleanupStack();
    t.after(() => cleanup.run());
    const id = uniq();
    const dir = mkdtempSync(join(tmpdir(), `nsm-up-${id}-`));
    cleanup.push("temp dir", () => rmSync(dir, { recursive: true, force: true }));
    const env = {
      ...process.env,
      NSM_UP_ID: id,
      NSM_UP_STATE: join(dir, "mesh.json"),
      NSM_UP_SOCKET: join(dir, "nsm.io.sock"),
    };
    cleanup.push("mesh (if nsm down did not run)", async () => {
      const s = readMeshState(env.NSM_UP_STATE);
      if (s) await destroyMesh(s);
    });

    const up = await exec(process.execPath, [bin, "up"], { env, timeout: 60_000 });
    assert.match(up.stdout, /local mesh .* is running/);
    // progress while it starts, one line per step, on stderr
    for (const step of [
      /namespaces: fabric/,
      /registry on tcp:/,
      /nsmgr on each node/,
      /forwarder on each node/,
      /endpoint "icmp-responder"/,
    ])
      assert.match(up.stderr, new RegExp(`nsm up: \\[\\d+\\.\\d s\\] ${step.source}`));
    const state = readMeshState(env.NSM_UP_STATE)!;
    assert.equal(state.procs.length, 6); // registry, 2 nsmgr, 2 forwarders, NSE
    assert.ok(state.supervisor && alive(state.supervisor.pid), "no supervisor running");

    const mine = `${id}-mine`;
    ip("netns", "add", mine);
    cleanup.push(`netns ${mine}`, () => ip("netns", "del", mine));
    const { nsc, exited: nscExit, ns, peer } = await upNsc(cleanup, mine, env.NSM_UP_SOCKET, { stop: "SIGKILL" });
    await ping(mine, peer, 2, 10);

    // supervision: kill -9 the NSE and node 0's forwarder; both come back under new pids
    const old = new Map(state.procs.map((p) => [p.name, p.pid]));
    for (const name of ["icmp-responder", "forwarder-0"]) process.kill(old.get(name)!, "SIGKILL");
    let now = state;
    for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
      now = readMeshState(env.NSM_UP_STATE)!;
      const back = ["icmp-responder", "forwarder-0"].every((n) => {
        const p = now.procs.find((x) => x.name === n)!;
        return p.pid !== old.get(n) && alive(p.pid);
      });
      if (back) break;
    }
    for (const n of ["icmp-responder", "forwarder-0"]) {
      const p = now.procs.find((x) => x.name === n)!;
      assert.notEqual(p.pid, old.get(n), `${n} was not restarted`);
      assert.equal(p.restarts, 1);
    }
    assert.equal(now.procs.length, 6, "a restart adds no entry");
    await pingUntil(mine, peer, 20_000);

    // killed, not stopped: its Close never happens, so nsm down itself must remove the nsm-1 the
    // forwarder made in this namespace (a graceful NSC stop is covered by test/e2e/mesh.test.ts)
    nsc.kill("SIGKILL");
    await nscExit;
    const down = await exec(process.execPath, [bin, "down"], { env, timeout: 60_000 });
    assert.match(down.stdout, /nsm down: stopped 6 process\(es\), removed/); // nothing "already gone"
    assert.match(down.stdout, /removed interfaces of ours a client's Close had left: .*nsm-1/);
    assert.equal(alive(now.supervisor!.pid), false, "supervisor still running");
    assert.deepEqual(
      readdirSync("/run/netns").filter((n) => n.startsWith(`${id}-`) && n !== mine),
      [],
    );
    for (const p of [...state.procs, ...now.procs]) {
      let cmd = "";
      try {
        cmd = readFileSync(`/proc/${p.pid}/cmdline`, "utf8");
      } catch {
        /* gone */
      }
      assert.ok(!cmd.includes("nsm.mjs"), `process ${p.name} (pid ${p.pid}) is still running`);
    }
    assert.equal(existsSync(env.NSM_UP_SOCKET), false, "socket left");
    assert.equal(existsSync(env.NSM_UP_STATE), false, "state file left");
    assert.equal(existsSync(state.dir), false, "mesh dir left");
    assert.deepEqual(
      (await ns.links()).map((l) => l.attrs.name),
      ["lo"],
      "interfaces left in the hand-made namespace",
    );
    // a second down is harmless
    assert.match((await exec(process.execPath, [bin, "down"], { env })).stdout, /no mesh is up/);
  },
);
