/**
 * A real VPP per test: its own run dir (api.sock, stats.sock, cli.sock) and shm prefix, stopped
 * and removed after the test. `vppSkip` is the reason to skip when VPP is not installed (setup
 * installs it from ../shared/vpp) or we are not root.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchVpp, vppBinary, type LaunchedVpp } from "../../src/vpp/launch.js";

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
