// grpcfd faults that once broke the mesh (issue 12): a forwarder must re-register with an nsmgr
// restarted under it; NSM_GRPCFD=false (fdPassing: false) never puts inode:// on the wire; begin's
// identity check treats an inode:// namespace as gone once nothing but received fds holds it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  create,
  kernel,
  ConnectionSchema,
  NetworkServiceEndpointSchema,
  NetworkServiceRequestSchema,
} from "../../src/api/index.js";
import { newCtx, serve, type NseRegistryServer } from "../../src/core/index.js";
import { nativeAvailable } from "../../src/native.js";
import { nseRegistryClient } from "../../src/registry/chains/client.js";
import { sandbox } from "../../src/sandbox/index.js";
import { netnsClaim } from "../../src/networkservice/utils/netnsowner.js";

const skip = !nativeAvailable() && "native addon not built";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inodeOf = (p: string) => {
  const st = statSync(p, { bigint: true });
  return `inode://${st.dev}/${st.ino}`;
};

test(
  "a forwarder re-registers with an nsmgr restarted under it (fd passing, central registry)",
  { skip, timeout: 30_000 },
  async (t) => {
    const sb = await sandbox({ centralRegistry: true });
    t.after(() => sb.close());
    const node = sb.node(0);
    const fwd = node.forwarders[0]!;
    assert.equal(fwd.registration.url, fwd.url, "the forwarder gets its own URL back, not nsmgr's fd path");
    await node.restartNsmgr();
    let known: string | undefined;
    for (const end = Date.now() + 10_000; Date.now() < end && !known; await sleep(50))
      known = node.nsmgr.registry.localBypass.get(fwd.registration.name);
    assert.match(known ?? "", /^unix:\/\/\/proc\/\d+\/fd\/\d+$/, "re-registered through an fd");
    await node.endpoint({ name: "nse-1", services: ["icmp"], cidrs: ["172.16.3.0/30"] });
    const nsc = await node.client();
    await nsc.request("kernel://icmp/nsm-1");
  },
);

test("fdPassing: false (NSM_GRPCFD=false) registers unix:// URLs as they are, with no fd", { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "t-gfd-off-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const seen: string[] = [];
  const reg: NseRegistryServer = {
    register: async (nse) => (seen.push(nse.url), nse),
    // eslint-disable-next-line require-yield
    async *find() {
      return;
    },
    unregister: async () => undefined,
  };
  const srv = await serve([`unix://${join(dir, "reg.sock")}`], { nseRegistry: reg });
  t.after(() => srv.close());
  const self = `unix://${join(dir, "reg.sock")}`;
  for (const off of [false, true]) {
    const saved = process.env["NSM_GRPCFD"];
    if (off) process.env["NSM_GRPCFD"] = "false";
    const life = new AbortController();
    try {
      const c = nseRegistryClient({ url: srv.urls[0]!.href, signal: life.signal });
      const got = await c.register(
        create(NetworkServiceEndpointSchema, { name: `nse-${off}`, url: self, networkServiceNames: ["x"] }),
        newCtx({ timeoutMs: 3000 }),
      );
      assert.equal(got.url, self, "the caller gets its URL back");
      await c.close();
    } finally {
      life.abort();
      if (saved === undefined) delete process.env["NSM_GRPCFD"];
      else process.env["NSM_GRPCFD"] = saved;
    }
  }
  assert.equal(seen[0], inodeOf(join(dir, "reg.sock")), "with fd passing: inode:// (the fd beside it)");
  assert.equal(seen[1], self, "without: the unix:// URL, never inode:// without its fd");
});

test("identity check: an inode:// namespace is another owner while alive, gone once nothing holds it", () => {
  const conn = (netnsUrl: string) =>
    create(ConnectionSchema, { id: "c", mechanism: kernel.newKernel({ netnsUrl, name: "nsm-1" }) });
  const req = (netnsUrl: string) =>
    create(NetworkServiceRequestSchema, {
      mechanismPreferences: [kernel.newKernel({ netnsUrl, name: "nsm-1" })],
    });
  const ours = inodeOf("/proc/self/ns/net");
  assert.equal(netnsClaim(req(ours), conn(ours)).owner, "same");
  // a namespace that exists nowhere (no name, no process): its old owner is gone
  assert.equal(netnsClaim(req(ours), conn("inode://4/1")).owner, "gone");
  // an alive one that is not the request's: another owner
  assert.equal(netnsClaim(req("inode://4/1"), conn(ours)).owner, "other");
});
