/**
 * `nsm status` and `nsm trace` against a real `nsm up` mesh (own state file, socket and name
 * prefix), with an nsc in a hand-made namespace: status lists the registry's forwarders, NSE and
 * service and the connection with its path, per-hop mechanisms and (after a refresh) the
 * forwarders' interface counters; trace shows the hops and their log lines. Root only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { cleanupStack, ip, ping, rootSkip, uniq } from "../../src/datapath/testing/index.js";
import { destroyMesh, readMeshState } from "../../src/mesh/index.js";
import type { Snapshot } from "../../src/observe/status.js";
import { upNsc } from "../helpers/workloads.js";

const bin = new URL("../../bin/nsm.mjs", import.meta.url).pathname;
const exec = promisify(execFile);

test("nsm status and nsm trace on an nsm up mesh", { skip: rootSkip, timeout: 180_000 }, async (t) => {
  const cleanup = cleanupStack();
  t.after(() => cleanup.run());
  const id = uniq();
  const dir = mkdtempSync(join(tmpdir(), `nsm-observe-${id}-`));
  cleanup.push("temp dir", () => rmSync(dir, { recursive: true, force: true }));
  const env = {
    ...process.env,
    NSM_UP_ID: id,
    NSM_UP_STATE: join(dir, "mesh.json"),
    NSM_UP_SOCKET: join(dir, "nsm.io.sock"),
  };
  cleanup.push("mesh", async () => {
    const s = readMeshState(env.NSM_UP_STATE);
    if (s) await destroyMesh(s);
  });
  await exec(process.execPath, [bin, "up"], { env, timeout: 60_000 });

  const mine = `${id}-obs`;
  ip("netns", "add", mine);
  cleanup.push(`netns ${mine}`, () => ip("netns", "del", mine));
  // 60 s tokens: the nsc refreshes after ~20 s, and a refresh brings the forwarders' counters into the path
  const { peer } = await upNsc(cleanup, mine, env.NSM_UP_SOCKET, {
    env: { NSM_NAME: "obs-nsc", NSM_MAX_TOKEN_LIFETIME: "60s" },
    stop: "SIGTERM",
  });
  await ping(mine, peer, 5, 10);

  const status = async () =>
    JSON.parse((await exec(process.execPath, [bin, "status", "--json"], { env, timeout: 20_000 })).stdout) as Snapshot;
  let s = await status();
  for (
    const end = Date.now() + 45_000;
    // each forwarder reports its counters on its own schedule: wait for the one asserted below
    Number(s.connections.find((x) => x.id === "obs-nsc-0")?.counters["forwarder-0"]?.server_rx_packets ?? 0) < 5 &&
    Date.now() < end;
    await new Promise((r) => setTimeout(r, 1000))
  )
    s = await status();
  assert.deepEqual(s.errors, []);
  assert.deepEqual(
    s.nodes.map((n) => [n.name, n.forwarders, n.endpoints]),
    [
      ["nsmgr-0", ["forwarder-0"], []],
      ["nsmgr-1", ["forwarder-1"], ["icmp-responder"]],
    ],
  );
  assert.deepEqual(
    s.services.map((x) => [x.name, x.endpoints]),
    [["icmp-responder", 1]],
  );
  const c = s.connections.find((x) => x.id === "obs-nsc-0");
  assert.ok(c, JSON.stringify(s.connections));
  assert.deepEqual(
    c.path.map((p) => p.name),
    ["obs-nsc", "nsmgr-0", "forwarder-0", "nsmgr-1", "forwarder-1", "icmp-responder"],
  );
  const mech = Object.fromEntries(c.hops.map((h) => [h.seenBy, h.mechanism?.type]));
  assert.equal(mech["nsmgr-0"], "KERNEL");
  assert.equal(mech["nsmgr-1"], "VXLAN");
  assert.equal(c.srcIps.length, 1);
  const fwd0 = c.counters["forwarder-0"];
  assert.ok(fwd0 && Number(fwd0.server_rx_packets) >= 5, `forwarder-0 counters: ${JSON.stringify(c.counters)}`);

  // counters ride on the path segments a refresh rewrites: a snapshot taken mid-refresh may lack
  // one forwarder's, so the text view is asked again until it shows forwarder-0's
  const counters0 = /^ {4}counters {4}forwarder-0: \S+ rx \d+ pkt/m;
  let text = "";
  for (
    const end = Date.now() + 30_000;
    !counters0.test(text) && Date.now() < end;
    await new Promise((r) => setTimeout(r, 500))
  )
    text = (await exec(process.execPath, [bin, "status"], { env, timeout: 20_000 })).stdout;
  assert.match(text, counters0);

  const tr = (await exec(process.execPath, [bin, "trace", "obs-nsc-0"], { env, timeout: 20_000 })).stdout;
  t.diagnostic(tr.split("\n").slice(0, 14).join("\n"));
  assert.match(tr, /^\[1\] nsmgr-0 .* mechanism KERNEL\(nsm-1\)$/m);
  assert.match(tr, /^\[3\] nsmgr-1 .* mechanism VXLAN/m);
  for (const hop of ["nsmgr-0", "forwarder-0", "nsmgr-1", "forwarder-1", "icmp-responder"]) {
    const block = tr.split(/^\[\d\] /m).find((b) => b.startsWith(`${hop} `)) ?? "";
    assert.match(block, /INFO {2}connection established to icmp-responder/, `no log line for ${hop}:\n${tr}`);
  }
  const missing = await exec(process.execPath, [bin, "trace", "nope"], { env, timeout: 20_000 }).catch(
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal((missing as { code: number }).code, 1);
});
