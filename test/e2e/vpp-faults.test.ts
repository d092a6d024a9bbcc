/**
 * VPP backend faults against a real VPP 24.10: a Request that fails half-way (the second
 * workload's netns is gone after the first side is made) leaves nothing behind; no VPP: the error
 * names the socket. (VPP's own refusals and their wording: test/e2e/vpp-api.test.ts.)
 * Root only; skipped when VPP is not installed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { ConnectionContextSchema, ConnectionSchema, IPContextSchema, kernel } from "../../src/api/index.js";
import { newCtx } from "../../src/core/index.js";
import { sandbox as dpSandbox } from "../../src/datapath/testing/index.js";
import { vppBackend } from "../../src/forwarder/backends/vpp/index.js";
import { ours } from "../helpers/workloads.js";
import { startVpp, vppSkip } from "../helpers/vpp.js";

const skip = vppSkip;
if (skip) console.log(`# vpp-faults: skipped: ${skip}`);

test("vpp faults: a half-made Request is undone", { skip, timeout: 60_000 }, async (t) => {
  const sb = dpSandbox(t);
  const [node, nsc] = [sb.netns(), sb.netns()];
  const vpp = await startVpp(t, undefined, `/run/netns/${node.name}`);
  const b = await vppBackend({ apiSocket: vpp.apiSocket, netns: `/run/netns/${node.name}` });
  sb.cleanup.push("backend", () => b.close());
  const x = (id: string, nseUrl: string) => {
    const context = create(ConnectionContextSchema, {
      ipContext: create(IPContextSchema, { srcIpAddrs: ["172.16.8.101/32"], dstIpAddrs: ["172.16.8.100/32"] }),
    });
    const conn = (m: ReturnType<typeof kernel.newKernel>) =>
      create(ConnectionSchema, { id, mechanism: m, context, payload: "IP" });
    return {
      id,
      incoming: conn(kernel.newKernel({ netnsUrl: `file:///run/netns/${nsc.name}`, name: "nsm-1" })),
      outgoing: conn(kernel.newKernel({ netnsUrl: nseUrl, name: "nsm-1" })),
    };
  };
  const left = async () =>
    (await b.vpp.dump("sw_interface_dump", { sw_if_index: 0xffffffff }))
      .filter((i) => i.tag)
      .map((i) => i.interface_name);

  // the NSE's netns is gone after the NSC's side was made
  await assert.rejects(
    b.apply(x("c-1", "file:///run/netns/no-such-netns-here"), newCtx({ timeoutMs: 10_000 })),
    /no-such-netns-here/,
  );
  assert.deepEqual(await left(), []);
  assert.deepEqual(await ours(nsc.ns), []);

  assert.equal(b.records.size, 0);
});

test("vpp faults: no VPP at NSM_VPP_API_SOCKET: the error names the socket", { skip }, async () => {
  await assert.rejects(
    vppBackend({ apiSocket: "/nonexistent/vpp/api.sock", connectTimeoutMs: 1500 }),
    /VPP API socket \/nonexistent\/vpp\/api.sock: no such socket/,
  );
});
