// The control-plane commands as processes: nsmgr (memory registry), forwarder (null datapath),
// nse-icmp-responder, nsc-init (exits, leaving its connection) and nsc (adopts it, closes on SIGTERM).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const bin = new URL("../../bin/nsm.mjs", import.meta.url).pathname;

interface Proc {
  p: ChildProcess;
  lines: string[];
  waitFor(re: RegExp, ms?: number): Promise<string>;
  exited: Promise<number | null>;
}

function start(cmd: string, env: Record<string, string>): Proc {
  const p = spawn(process.execPath, [bin, cmd], {
    env: { ...process.env, NSM_LOG_LEVEL: "INFO", NSM_LOCAL_DNS_SERVER_ENABLED: "false", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: { re: RegExp; res: (l: string) => void }[] = [];
  let buf = "";
  const onData = (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters])
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.res(line);
        }
    }
  };
  p.stderr!.on("data", onData);
  p.stdout!.on("data", onData);
  const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
  return {
    p,
    lines,
    exited,
    waitFor(re, ms = 15_000) {
      const hit = lines.find((l) => re.test(l));
      if (hit) return Promise.resolve(hit);
      return new Promise((res, rej) => {
        const t = setTimeout(
          () => rej(new Error(`${cmd}: no line matching ${re} after ${ms} ms:\n${lines.join("\n")}`)),
          ms,
        );
        waiters.push({
          re,
          res: (l) => {
            clearTimeout(t);
            res(l);
          },
        });
        void exited.then((code) => rej(new Error(`${cmd} exited (${code}) before ${re}:\n${lines.join("\n")}`)));
      });
    },
  };
}

test("nsm nsmgr + forwarder + nse-icmp-responder + nsc-init + nsc as processes", { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "nsm-cmd-"));
  const procs: Proc[] = [];
  t.after(async () => {
    for (const x of procs.reverse())
      if (x.p.exitCode === null && x.p.signalCode === null) {
        x.p.kill("SIGKILL");
        await x.exited;
      }
    rmSync(dir, { recursive: true, force: true });
  });
  const nsmgrUrl = `unix://${join(dir, "nsm.sock")}`;
  const run = (cmd: string, env: Record<string, string>) => {
    const x = start(cmd, env);
    procs.push(x);
    return x;
  };

  const mgr = run("nsmgr", { NSM_LISTEN_ON: nsmgrUrl, NSM_REGISTRY_URL: "", NSM_NAME: "nsmgr" });
  await mgr.waitFor(/Startup completed/);
  const fwd = run("forwarder", {
    NSM_LISTEN_ON: `unix://${join(dir, "fwd.sock")}`,
    NSM_CONNECT_TO: nsmgrUrl,
    NSM_DATAPATH: "null",
    NSM_NAME: "fwd",
  });
  const nse = run("nse-icmp-responder", {
    NSM_CONNECT_TO: nsmgrUrl,
    NSM_NAME: "icmp",
    NSM_SERVICE_NAMES: "icmp",
    NSM_CIDR_PREFIX: "172.16.1.100/31",
    NSM_LISTEN_ON: `unix://${join(dir, "nse.sock")}`,
  });
  await Promise.all([fwd.waitFor(/Startup completed/), nse.waitFor(/Startup completed/)]);

  const init = run("nsc-init", {
    NSM_CONNECT_TO: nsmgrUrl,
    NSM_NAME: "app",
    NSM_NETWORK_SERVICES: "kernel://icmp/nsm-1",
  });
  const ready = JSON.parse(await init.waitFor(/connection ready/)) as { connId: string; ip: string[]; nse: string };
  assert.deepEqual(
    { id: ready.connId, ip: ready.ip, nse: ready.nse },
    { id: "app-0", ip: ["172.16.1.101/32"], nse: "icmp" },
  );
  assert.equal(await init.exited, 0, "nsc-init exits 0 and leaves the connection");

  const nsc = run("nsc", {
    NSM_CONNECT_TO: nsmgrUrl,
    NSM_NAME: "app",
    NSM_NETWORK_SERVICES: "kernel://icmp/nsm-1",
    NSM_LOCAL_DNS_SERVER_ENABLED: "false",
    NSM_LIVENESS_CHECK_ENABLED: "false",
  });
  await nsc.waitFor(/adopting an existing connection/);
  const conn = JSON.parse(await nsc.waitFor(/connected to icmp/)) as { connId: string; ip: string[] };
  assert.deepEqual(conn.ip, ["172.16.1.101/32"], "the adopted connection keeps its addresses");
  nsc.p.kill("SIGTERM");
  assert.equal(await nsc.exited, 0);
  for (const x of [nse, fwd, mgr]) {
    x.p.kill("SIGTERM");
    assert.equal(await x.exited, 0, `${x.p.spawnargs.join(" ")} exits cleanly`);
  }
});

test("bad configuration names the variable and the value", { timeout: 30_000 }, async () => {
  const x = start("nsc", { NSM_NETWORK_SERVICES: "vpn/if-vpn" });
  assert.equal(await x.exited, 1);
  assert.match(x.lines.join("\n"), /NSM_NETWORK_SERVICES="vpn\/if-vpn": invalid network service URL/);
});
