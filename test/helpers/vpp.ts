/**
 * A real VPP per test: its own run dir (api.sock, stats.sock, cli.sock) and shm prefix, stopped
 * and removed after the test. `vppSkip` is the reason to skip when VPP is not installed (setup
 * installs it from ../shared/vpp) or we are not root.
 */
import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sandbox as dpSandbox } from "../../src/datapath/testing/index.js";
import { vppBackend, type VppBackend, type VppBackendOptions } from "../../src/forwarder/backends/vpp/index.js";
import { createForwarder } from "../../src/networkservice/components.js";
import { VppClient } from "../../src/vpp/client.js";
import { launchVpp, vppBinary, type LaunchedVpp } from "../../src/vpp/launch.js";
import { harness, nsmgr } from "./workloads.js";

export const vppSkip: string | false = !vppBinary()
  ? "VPP is not installed (/opt/vpp/bin/vpp; scripts/setup.sh installs it from ../shared/vpp)"
  : process.getuid?.() !== 0
    ? "needs root (VPP)"
    : false;

let seq = 0;
/** Starts a VPP that stops (and whose dir is removed) when the test ends. */
export async function startVpp(
  t: { after(f: () => Promise<void> | void): void },
  extraConf?: string,
  netns?: string,
): Promise<LaunchedVpp> {
  const dir = mkdtempSync(join(tmpdir(), `vpp-t${process.pid}-${seq++}-`));
  const vpp = await launchVpp({ dir, prefix: `nsmt${process.pid}x${seq}`, extraConf, ...(netns ? { netns } : {}) });
  t.after(async () => {
    await vpp.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return vpp;
}

/** `vppctl` output for a CLI command (for assertions a reader can rerun by hand). */
export function vppctl(vpp: LaunchedVpp, cmd: string): string {
  const r = spawnSync("/opt/vpp/bin/vppctl", ["-s", vpp.cliSocket, ...cmd.split(" ")], { encoding: "utf8" });
  return r.stdout;
}

/**
 * One node for in-process VPP backend tests: a sandbox, a VPP in the node's netns, nsmgr and a
 * forwarder on the VPP backend (`backend` options added to the API socket and netns), and an API
 * client with `tagged()`: VPP interfaces that carry a tag (ours carry the connection id).
 */
export async function vppNode(
  t: TestContext,
  prefix: string,
  backendOptions: Omit<VppBackendOptions, "apiSocket" | "netns"> = {},
) {
  const sb = dpSandbox(t);
  const h = harness(sb, prefix);
  const node = sb.netns();
  const vpp = await startVpp(t, undefined, `/run/netns/${node.name}`);
  const mgr = await nsmgr(h);
  const backend: VppBackend = await vppBackend({
    apiSocket: vpp.apiSocket,
    netns: `/run/netns/${node.name}`,
    ...backendOptions,
  });
  const fwd = await createForwarder({
    ...h.common,
    name: "fwd",
    listenOn: [h.sock("fwd")],
    nsmgrUrl: mgr.url,
    backend,
  });
  sb.cleanup.push("forwarder", () => fwd.close());
  const api = await VppClient.connect(vpp.apiSocket);
  sb.cleanup.push("vpp api", () => api.close());
  const tagged = async () => (await api.dump("sw_interface_dump", { sw_if_index: 0xffffffff })).filter((i) => i.tag);
  return { sb, h, vpp, mgr, backend, api, tagged };
}
