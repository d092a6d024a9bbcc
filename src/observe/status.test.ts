import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { sandbox, type Sandbox } from "../sandbox/index.js";
import { renderStatus, snapshot, watchMesh, type Snapshot } from "./status.js";
import { targetsFromArgs, type Targets } from "./targets.js";
import { renderTrace, traceConnection } from "./trace.js";

/** a 2-node sandbox whose components all log (debug, pino JSON) to one file; an NSE on node 1 */
async function mesh(t: { after(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), "nsm-observe-"));
  const logFile = join(dir, "all.log");
  const dest = pino.destination({ dest: logFile, sync: true });
  const log = pino({ level: "debug" }, dest);
  const sb: Sandbox = await sandbox({ nodes: 2, log });
  t.after(async () => {
    await sb.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await sb.node(1).endpoint({ name: "nse-1", services: ["icmp"], cidrs: ["10.0.0.0/24"] });
  const args = [
    ...sb.nodes.flatMap((n) => ["--nsmgr", `nsmgr-${n.index}=${n.nsmgrUrl}`]),
    ...sb.nodes.flatMap((n) =>
      n.forwarders.map((f) => `--forwarder=${n.forwarders.length && f.registration.name}=${f.url}`),
    ),
  ];
  const targets: Targets = targetsFromArgs(args, {});
  // every process of the sandbox writes the same file; trace tells hops apart by the line's name
  for (const name of [
    "nsmgr-0",
    "nsmgr-1",
    "nse-1",
    ...sb.nodes.flatMap((n) => n.forwarders.map((f) => f.registration.name)),
  ])
    targets.logs.set(name, logFile);
  return { sb, targets, logFile };
}

test("status: registry content and every connection with its path, mechanisms and addresses", async (t) => {
  const { sb, targets } = await mesh(t);
  const nsc = await sb.node(0).client({ name: "nsc-a" });
  const conn = await nsc.request("kernel://icmp/nsm-1", { id: "nsc-a-0" });

  const s = await snapshot(targets, { timeoutMs: 2000 });
  assert.deepEqual(s.errors, []);
  assert.deepEqual(
    s.nodes.map((n) => n.name),
    ["nsmgr-0", "nsmgr-1"],
  );
  assert.equal(s.forwarders.length, 2);
  assert.deepEqual(
    s.endpoints.map((e) => [e.name, e.services]),
    [["nse-1", ["icmp"]]],
  );
  assert.deepEqual(s.services, [{ name: "icmp", payload: "ETHERNET", endpoints: 1 }]);
  assert.equal(s.connections.length, 1);
  const c = s.connections[0]!;
  assert.equal(c.id, "nsc-a-0");
  assert.equal(c.endpoint, "nse-1");
  assert.deepEqual(
    c.path.map((p) => p.name),
    conn.path!.pathSegments.map((p) => p.name),
  );
  assert.equal(c.path.length, 6, "nsc → nsmgr-0 → forwarder → nsmgr-1 → forwarder → nse-1");
  assert.deepEqual(c.srcIps, conn.context!.ipContext!.srcIpAddrs);
  // both nsmgrs and both forwarders report the connection, each with the mechanism of its hop
  assert.deepEqual(
    c.hops.map((h) => h.index),
    [1, 2, 3, 4],
  );
  assert.equal(c.hops[0]!.seenBy, "nsmgr-0");
  assert.equal(c.hops[0]!.mechanism?.type, "KERNEL");
  const text = renderStatus(s);
  assert.match(text, /^CONNECTIONS \(1\)$/m);
  assert.match(text, /^ {4}path {8}nsc-a → nsmgr-0 → .* → nse-1$/m);
  assert.match(text, /^ {4}mechanisms {2}nsmgr-0: KERNEL\(nsm-1\)/m);
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(s)));
});

test("status --watch: a new snapshot after each connection event", async (t) => {
  const { sb, targets } = await mesh(t);
  const nsc = await sb.node(0).client({ name: "nsc-w" });
  const ac = new AbortController();
  const seen: Snapshot[] = [];
  const waiters: { want: (s: Snapshot) => boolean; resolve: () => void }[] = [];
  const until = (want: (s: Snapshot) => boolean) =>
    new Promise<void>((resolve) => {
      if (seen.some(want)) return resolve();
      waiters.push({ want, resolve });
    });
  const watching = watchMesh(
    targets,
    ac.signal,
    (s) => {
      seen.push(s);
      for (const w of waiters.filter((x) => x.want(s))) w.resolve();
    },
    { timeoutMs: 2000, debounceMs: 20 },
  );
  t.after(async () => {
    ac.abort();
    await watching;
  });
  await until((s) => s.connections.length === 0 && s.forwarders.length === 2);
  const c1 = await nsc.request("kernel://icmp/nsm-1", { id: "w-1" });
  await until((s) => s.connections.some((c) => c.id === "w-1"));
  await nsc.request("kernel://icmp/nsm-2", { id: "w-2" });
  await until((s) => s.connections.length === 2);
  await nsc.close(c1);
  await until((s) => s.connections.length === 1 && s.connections[0]!.id === "w-2");
});

test("trace: the hops of one connection with each hop's mechanism and log lines", async (t) => {
  const { sb, targets, logFile } = await mesh(t);
  const nsc = await sb.node(0).client({ name: "nsc-t" });
  const conn = await nsc.request("kernel://icmp/nsm-1", { id: "nsc-t-0" });
  // a hop's uuid works as well as the client's id
  const hopId = conn.path!.pathSegments[3]!.id;
  const tr = await traceConnection(targets, hopId.slice(0, 8), { timeoutMs: 2000 });
  assert.ok(tr, "found by a prefix of a hop's id");
  assert.equal(tr.connection.id, "nsc-t-0");
  assert.deepEqual(
    tr.hops.map((h) => h.name),
    conn.path!.pathSegments.map((p) => p.name),
  );
  assert.ok(
    tr.hops.every((h) => h.id && h.expires),
    "every hop has an id and a token expiry",
  );
  assert.equal(tr.hops[1]!.mechanism?.type, "KERNEL");
  const withLines = tr.hops.filter((h) => h.lines.length);
  assert.ok(withLines.length >= 1, `no hop has log lines; log:\n${readFileSync(logFile, "utf8").slice(-2000)}`);
  // each hop's lines are its own: at nsmgr-0 the connection is known by the client's id
  const mgr0 = tr.hops[1]!;
  assert.ok(
    mgr0.lines.some((l) => l.msg === "connection established to icmp"),
    renderTrace(tr),
  );
  assert.ok(mgr0.lines.every((l) => l.connId === "nsc-t-0"));
  assert.ok(tr.hops[5]!.lines.every((l) => l.connId === conn.path!.pathSegments[4]!.id));
  const text = renderTrace(tr);
  t.diagnostic(text);
  assert.match(text, /^\[0\] nsc-t {2}id nsc-t-0 {2}token expires \S+ {2}mechanism \(client\)$/m);
  assert.match(text, /^\[1\] nsmgr-0 .* mechanism KERNEL\(nsm-1\)$/m);
  await assert.rejects(
    traceConnection(targets, "no-such-connection", { timeoutMs: 2000 }),
    /no connection with id "no-such-connection" is known to/,
  );
});
