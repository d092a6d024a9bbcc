// grpcfd: fds beside the HTTP/2 bytes on unix sockets (src/tools/grpcfd, native/src/fdsock.cc),
// the recvfd/sendfd elements in a real in-process mesh, and inode:// lookup without fd passing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  commonKeys,
  create,
  ConnectionSchema,
  kernel,
  mechType,
  NetworkServiceRequestSchema,
} from "../../src/api/index.js";
import { dial, INCOMING, newCtx, serve, type NetworkServiceServer } from "../../src/core/index.js";
import { fdClose, fdInode, nativeAvailable } from "../../src/native.js";
import { findInode, InodeNotFoundError } from "../../src/tools/grpcfd/inode.js";
import { sandbox } from "../../src/sandbox/index.js";

const skip = !nativeAvailable() && "native addon not built";
const ident = (p: string) => {
  const st = statSync(p, { bigint: true });
  return `${st.dev}:${st.ino}`;
};
/** how many of our open fds name the file `p` */
const held = (p: string) => {
  const want = ident(p);
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (ident(`/proc/self/fd/${fd}`) === want) n++;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
};
const tmp = (t: { after(fn: () => void): void }) => {
  const dir = mkdtempSync(join(tmpdir(), "t-gfd-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string) => {
    const p = join(dir, name);
    writeFileSync(p, name);
    return p;
  };
  return { dir, file };
};

test(
  "fds travel both ways beside a unary call on a unix socket; they close with the connection",
  { skip, timeout: 10_000 },
  async (t) => {
    const { dir, file } = tmp(t);
    const a = file("from-client");
    const b = file("from-server");
    const seen: string[] = [];
    const ns: NetworkServiceServer = {
      async request(req, ctx) {
        const fds = ctx.get(INCOMING)?.fds;
        assert.ok(fds, "a unix-socket call has a transceiver");
        const fd = await fds.recvFd(req.connection!.mechanism!.parameters[commonKeys.INODE_URL]!, ctx.signal);
        seen.push(fdInode(fd));
        fdClose(fd);
        const conn = create(ConnectionSchema, { id: req.connection!.id, mechanism: { type: mechType.KERNEL } });
        conn.mechanism!.parameters[commonKeys.INODE_URL] = fds.sendFile(b);
        return conn;
      },
      async close() {},
    };
    const srv = await serve([`unix://${join(dir, "s.sock")}`], { networkService: ns });
    const conn = dial(srv.urls[0]!);
    try {
      assert.ok(conn.fds, "a unix-socket channel has a transceiver");
      const url = conn.fds.sendFile(a);
      assert.match(url, /^inode:\/\/\d+\/\d+$/);
      const req = create(NetworkServiceRequestSchema, {
        connection: { id: "c-1", mechanism: { type: mechType.KERNEL, parameters: { [commonKeys.INODE_URL]: url } } },
      });
      const got = await conn.networkService.request(req, newCtx({ timeoutMs: 3000 }));
      assert.deepEqual(seen, [ident(a)], "the server received the client's file");
      const back = got.mechanism!.parameters[commonKeys.INODE_URL]!;
      const fd = await conn.fds.recvFd(back, AbortSignal.timeout(2000));
      assert.equal(fdInode(fd), ident(b), "the client received the server's file");
      fdClose(fd);
      assert.ok(held(a) >= 1 && held(b) >= 1, "each side keeps what it received while connected");
    } finally {
      conn.close();
      await srv.close();
    }
    for (let i = 0; i < 50 && (held(a) || held(b)); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(held(a), 0, "the server closed the client's fd with the connection");
    assert.equal(held(b), 0, "the client closed the server's fd with the connection");
  },
);

test("a wait for an fd that never comes fails naming the inode URL", { skip, timeout: 5000 }, async (t) => {
  const { dir } = tmp(t);
  let err: unknown;
  const ns: NetworkServiceServer = {
    async request(req, ctx) {
      try {
        await ctx.get(INCOMING)!.fds!.recvFd("inode://4/1234567", AbortSignal.timeout(200));
      } catch (e) {
        err = e;
      }
      return req.connection!;
    },
    async close() {},
  };
  const srv = await serve([`unix://${join(dir, "s.sock")}`], { networkService: ns });
  const conn = dial(srv.urls[0]!);
  t.after(async () => {
    conn.close();
    await srv.close();
  });
  await conn.networkService.request(
    create(NetworkServiceRequestSchema, { connection: { id: "x" } }),
    newCtx({ timeoutMs: 3000 }),
  );
  assert.match(String((err as Error)?.message), /timeout in recvfd waiting for inode:\/\/4\/1234567/);
});

test("inode:// lookup without fd passing: namespaces and files by identity, a clear error otherwise", { skip }, () => {
  const [dev, ino] = ident("/proc/self/ns/net").split(":");
  const found = findInode(`inode://${dev}/${ino}`);
  assert.equal(ident(found), `${dev}:${ino}`, `${found} is our netns`);
  assert.throws(
    () => findInode("inode://1/2"),
    (e: unknown) => e instanceof InodeNotFoundError && /inode:\/\/1\/2: no file with that identity/.test(e.message),
  );
});

test(
  "mesh: NSE and forwarder URLs travel as fds; received files live as long as the connection",
  { skip, timeout: 20_000 },
  async (t) => {
    const { file } = tmp(t);
    const nsFile = file("client-netns");
    const sb = await sandbox();
    t.after(() => sb.close());
    const node = sb.node(0);
    const nse = await node.endpoint({ name: "nse-1", services: ["icmp"], cidrs: ["172.16.2.0/30"] });
    // nsmgr keeps the NSE's and the forwarder's sockets as fds it received (registry recvfd)
    const real = node.nsmgr.registry.localBypass;
    for (const [name, sockUrl] of [
      ["nse-1", nse.url],
      ["forwarder-0-0", node.forwarders[0]!.url],
    ] as const) {
      const u = real.get(name)!;
      assert.match(u, /^unix:\/\/\/proc\/\d+\/fd\/\d+$/, `${name} is reached through an fd: ${u}`);
      assert.equal(ident(u.slice("unix://".length)), ident(sockUrl.slice("unix://".length)));
    }
    const nsc = await node.client({ netnsUrl: `file://${nsFile}` });
    const before = held(nsFile);
    const conn = await nsc.request("kernel://icmp/nsm-1");
    assert.equal(kernel.netnsUrlOf(conn), `file://${nsFile}`);
    const during = held(nsFile);
    assert.ok(during > before, `nsmgr and forwarder hold the client's netns (${before} → ${during})`);
    // refresh: no new fds pile up
    await nsc.request("kernel://icmp/nsm-1", { id: conn.id, connection: conn });
    assert.ok(held(nsFile) <= during + 2, `a refresh does not pile up fds (${during} → ${held(nsFile)})`);
    await nsc.close(conn);
    assert.ok(held(nsFile) < during, `Close releases the per-connection files (${during} → ${held(nsFile)})`);
    await sb.close();
    for (let i = 0; i < 50 && held(nsFile); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(held(nsFile), 0, "nothing is left once the connections are gone");
  },
);

test(
  "local vs remote is decided by who serves the NSE, not by its URL scheme",
  { skip, timeout: 20_000 },
  async (t) => {
    const sb = await sandbox({ nodes: 2 });
    t.after(() => sb.close());
    await sb.node(0).endpoint({ name: "nse-tcp", services: ["local-tcp"], listenOn: ["tcp://127.0.0.1:0"] });
    await sb.node(1).endpoint({ name: "nse-far", services: ["far"] });
    const nsc = await sb.node(0).client();
    const local = await nsc.request("kernel://local-tcp/nsm-1");
    const far = await nsc.request("kernel://far/nsm-2");
    const xs = sb.node(0).backends[0]!.crossConnects;
    assert.equal(
      xs.get(local.path!.pathSegments[2]!.id)?.outgoing.mechanism?.type,
      mechType.KERNEL,
      "an NSE of our nsmgr on tcp is local",
    );
    assert.equal(
      xs.get(far.path!.pathSegments[2]!.id)?.outgoing.mechanism?.type,
      mechType.VXLAN,
      "an NSE behind the other nsmgr is remote",
    );
  },
);
