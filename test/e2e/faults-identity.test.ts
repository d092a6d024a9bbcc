/**
 * Two clients, one connection id (issue 21 items 2, 8): an nsc never adopts a connection made
 * from another network namespace and nsmgr refuses a Request for it; with the default NSM_NAME
 * two namespaces get two ids. A memif:// URL on a kernel-only forwarder fails with a clear error.
 * nsmgr, forwarder (null datapath) and NSE run as processes in the root namespace, each nsc in a
 * namespace of its own. Root only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  clone,
  ConnectionSchema,
  create,
  kernel,
  MonitorScopeSelectorSchema,
  NetworkServiceRequestSchema,
  type Connection,
} from "../../src/api/index.js";
import { dial, newCtx, NsmError, status } from "../../src/core/index.js";
import { cleanupStack, ip, rootSkip, uniq } from "../../src/datapath/testing/index.js";
import { procs, startNode } from "../helpers/nsm-procs.js";
import { netnsIdentity } from "../../src/networkservice/utils/netnsowner.js";

async function connectionsAt(url: string): Promise<Connection[]> {
  const c = dial(url);
  const ac = new AbortController();
  try {
    for await (const ev of c.monitor.monitorConnections(
      create(MonitorScopeSelectorSchema, {}),
      newCtx({ signal: ac.signal, timeoutMs: 5000 }),
    ))
      return Object.values(ev.connections);
    return [];
  } finally {
    ac.abort();
    c.close();
  }
}

test(
  "a client never takes over another namespace's connection; default names differ per namespace",
  { skip: rootSkip, timeout: 120_000 },
  async (t) => {
    const cleanup = cleanupStack();
    t.after(() => cleanup.run());
    const dir = mkdtempSync(join(tmpdir(), "nsm-ident-"));
    cleanup.push("temp dir", () => rmSync(dir, { recursive: true, force: true }));
    const [nsA, nsB] = [uniq(), uniq()];
    for (const n of [nsA, nsB]) {
      ip("netns", "add", n);
      cleanup.push(`netns ${n}`, () => ip("netns", "del", n));
    }
    const p = procs(t);
    const { mgrUrl } = await startNode(p, dir, { cidr: "172.16.1.96/28" });
    // the null datapath makes no interface: the data-plane liveness check would call every
    // connection dead and heal would reselect (new addresses) behind the test's back
    const nscEnv = {
      NSM_CONNECT_TO: mgrUrl,
      NSM_NETWORK_SERVICES: "kernel://icmp/nsm-1",
      NSM_LIVENESS_CHECK_ENABLED: "false",
    };

    // the same NSM_NAME in two namespaces: the first keeps its connection, the second is refused
    const a = p.start("nsc", { ...nscEnv, NSM_NAME: "app" }, { netns: nsA });
    const first = JSON.parse(await a.waitFor(/connected to icmp/)) as { connId: string; ip: string[] };
    assert.equal(first.connId, "app-0");
    const b = p.start("nsc", { ...nscEnv, NSM_NAME: "app" }, { netns: nsB });
    const bExit = await b.exitWithin(15_000);
    assert.equal(bExit, 1, `the second client gives up: retrying cannot help:\n${b.lines.slice(-15).join("\n")}`);
    assert.match(b.lines.join("\n"), /connection id app-0 is in use: it belongs to another network namespace/);
    const held = (await connectionsAt(mgrUrl)).find((c) => c.path?.pathSegments[0]?.id === "app-0");
    // nsmgr reports the namespace as the client sent it: inode://dev/ino with fd passing (as
    // upstream's recvfd swaps it back), file:// without: the same namespace either way
    const heldNs = held && kernel.netnsUrlOf(held.mechanism);
    assert.ok(heldNs, "a's connection is held");
    assert.equal(netnsIdentity(heldNs), netnsIdentity(`file:///proc/${a.p.pid}/ns/net`), `still a's: ${heldNs}`);
    assert.deepEqual(held?.context?.ipContext?.srcIpAddrs, first.ip);

    // nsmgr refuses it too, for a client that does not check first
    const c = dial(mgrUrl);
    cleanup.push("channel", () => c.close());
    // as the adoption did: a's connection as nsmgr reports it, offered with b's namespace
    const stolen = clone(ConnectionSchema, held!);
    stolen.path!.index = 0;
    stolen.id = "app-0";
    const thief = create(NetworkServiceRequestSchema, {
      connection: stolen,
      mechanismPreferences: [kernel.newKernel({ netnsUrl: `file:///run/netns/${nsB}`, name: "nsm-1" })],
    });
    await assert.rejects(c.networkService.request(thief, newCtx({ timeoutMs: 5000 })), (e: unknown) => {
      const err = NsmError.from(e);
      assert.equal(err.code, status.PERMISSION_DENIED, err.message);
      assert.match(err.message, /connection id app-0 belongs to another client/);
      return true;
    });

    // default names: one per namespace, so both connect
    const da = p.start("nsc", { ...nscEnv, NSM_NETWORK_SERVICES: "kernel://icmp/nsm-2" }, { netns: nsA });
    const db = p.start("nsc", nscEnv, { netns: nsB });
    const [la, lb] = await Promise.all([
      da.waitFor(/connected to icmp/, 20_000),
      db.waitFor(/connected to icmp/, 20_000),
    ]);
    const [ca, cb] = [
      JSON.parse(la) as { connId: string; ip: string[] },
      JSON.parse(lb) as { connId: string; ip: string[] },
    ];
    assert.notEqual(ca.connId, cb.connId);
    const ips = [first.ip, ca.ip, cb.ip].flat();
    assert.equal(new Set(ips).size, ips.length, `no address held twice: ${ips.join(", ")}`);

    // a memif:// URL on a kernel-only forwarder: a clear error, not a kernel interface (that
    // forwarder, its nsmgr and an NSE run inside namespace b: nothing touches the root namespace)
    const { mgrUrl: mgr2Url } = await startNode(p, dir, {
      cidr: "172.16.2.96/28",
      tag: "2",
      datapath: "kernel",
      netns: nsB,
    });
    const m = p.start(
      "nsc",
      { NSM_CONNECT_TO: mgr2Url, NSM_NAME: "memif-app", NSM_NETWORK_SERVICES: "memif://icmp" },
      { netns: nsA },
    );
    await m.waitFor(/cannot support any of the requested mechanisms \[MEMIF\]/, 20_000);
    assert.equal(await m.exitWithin(10_000), 1, m.lines.join("\n"));
    assert.doesNotMatch(m.lines.join("\n"), /connected to icmp/);

    for (const x of [da, db, a]) assert.equal((await x.stop("SIGTERM")).code, 0);
  },
);
