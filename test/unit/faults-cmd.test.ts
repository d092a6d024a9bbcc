// Components as processes under faults (issue 21 items 4, 6, 8): a live socket is refused, a
// stale one replaced; SIGTERM ends every component within 5 s, during startup too and whatever
// its peers' state, and leaves no socket file behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type AddressInfo } from "node:net";
import { procs, startNode, until } from "../helpers/nsm-procs.js";

const unixSocketLive = (path: string) =>
  new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

const tempDir = (t: import("node:test").TestContext) => {
  const dir = mkdtempSync(join(tmpdir(), "nsm-faults-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

test(
  "a second nsmgr on a live socket is refused and leaves the first's socket alone",
  { timeout: 60_000 },
  async (t) => {
    const dir = tempDir(t);
    const p = procs(t);
    const sock = join(dir, "nsm.sock");
    const env = { NSM_LISTEN_ON: `unix://${sock}`, NSM_REGISTRY_URL: "" };
    const first = p.start("nsmgr", { ...env, NSM_NAME: "first" });
    await first.waitFor(/Startup completed/);
    const second = p.start("nsmgr", { ...env, NSM_NAME: "second" });
    assert.equal(await second.exited, 1);
    assert.match(second.lines.join("\n"), new RegExp(`${sock} is in use`));
    assert.ok(existsSync(sock) && (await unixSocketLive(sock)), "the first nsmgr still serves on its socket");

    // a stale socket (its server was killed) is replaced
    await first.stop("SIGKILL");
    assert.ok(existsSync(sock) && !(await unixSocketLive(sock)), "SIGKILL leaves a stale socket file");
    const third = p.start("nsmgr", { ...env, NSM_NAME: "third" });
    await third.waitFor(/Startup completed/);
    assert.ok(await unixSocketLive(sock));
    const { code, ms } = await third.stop("SIGTERM");
    assert.equal(code, 0);
    assert.ok(ms < 5000, `exit took ${ms} ms`);
    assert.ok(!existsSync(sock), "the socket file goes with its server");
  },
);

test(
  "SIGTERM during startup: forwarder, NSE and registry exit within 5 s and remove their sockets",
  { timeout: 60_000 },
  async (t) => {
    const dir = tempDir(t);
    const p = procs(t);
    const nowhere = `unix://${join(dir, "no-nsmgr.sock")}`; // nobody listens: registration never completes
    const fwdSock = join(dir, "fwd.sock");
    const nseSock = join(dir, "nse.sock");
    const fwd = p.start("forwarder", {
      NSM_NAME: "fwd",
      NSM_LISTEN_ON: `unix://${fwdSock}`,
      NSM_CONNECT_TO: nowhere,
      NSM_DATAPATH: "null",
    });
    const nse = p.start("nse-icmp-responder", {
      NSM_NAME: "icmp",
      NSM_LISTEN_ON: `unix://${nseSock}`,
      NSM_CONNECT_TO: nowhere,
      NSM_CIDR_PREFIX: "172.16.1.100/31",
    });
    await until("forwarder and NSE sockets", () => existsSync(fwdSock) && existsSync(nseSock));
    for (const x of [fwd, nse]) {
      const { code, ms } = await x.stop("SIGTERM");
      assert.ok(ms < 5000, `${x.p.spawnargs.join(" ")}: exit took ${ms} ms`);
      assert.equal(code, 0);
      assert.doesNotMatch(x.lines.join("\n"), /Startup completed/);
    }
    assert.ok(!existsSync(fwdSock), "no forwarder socket left");
    assert.ok(!existsSync(nseSock), "no NSE socket left");

    const regSock = join(dir, "reg.sock");
    const reg = p.start("registry", { NSM_LISTEN_ON: `unix://${regSock}` });
    await reg.waitFor(/Startup completed/);
    const r = await reg.stop("SIGTERM");
    assert.equal(r.code, 0);
    assert.ok(r.ms < 5000, `registry exit took ${r.ms} ms`);
    assert.ok(!existsSync(regSock));
  },
);

test(
  "SIGTERM after the nsmgr died: forwarder, NSE and nsc exit within 5 s, sockets removed",
  { timeout: 90_000 },
  async (t) => {
    const dir = tempDir(t);
    const p = procs(t);
    const { mgrUrl, fwdSock, nseSock, mgr, fwd, nse } = await startNode(p, dir, { cidr: "172.16.1.100/31" });
    const nsc = p.start("nsc", {
      NSM_NAME: "app",
      NSM_CONNECT_TO: mgrUrl,
      NSM_NETWORK_SERVICES: "kernel://icmp/nsm-1",
    });
    await nsc.waitFor(/connected to icmp/);
    await mgr.stop("SIGKILL");
    // orphaned: the nsc heals with back-off and says why each re-request fails, without flooding
    await nsc.waitFor(/heal: re-request failed/);
    await new Promise((r) => setTimeout(r, 3000));
    const noisy = nsc.lines.filter((l) => /"level":(40|50)/.test(l));
    assert.ok(noisy.length <= 6, `at most a few warnings in ~3 s, got ${noisy.length}:\n${noisy.join("\n")}`);
    assert.ok(
      noisy.some((l) => l.includes("heal: re-request failed") && l.includes(mgrUrl)),
      `the warning names what is unreachable:\n${noisy.join("\n")}`,
    );
    for (const x of [nsc, fwd, nse]) {
      const { code, ms } = await x.stop("SIGTERM");
      assert.ok(ms < 5000, `${x.p.spawnargs.slice(2).join(" ")}: exit took ${ms} ms`);
      assert.notEqual(code, null, "exits by itself, not by the signal");
    }
    assert.ok(!existsSync(fwdSock) && !existsSync(nseSock), "no socket left");
  },
);

test(
  "the nsc's success line names its interface, its address and the endpoint's; no warning about defaults",
  { timeout: 60_000 },
  async (t) => {
    const dir = tempDir(t);
    const p = procs(t);
    const { mgrUrl } = await startNode(p, dir, { cidr: "172.16.1.100/31" });
    const nsc = p.start("nsc", { NSM_CONNECT_TO: mgrUrl, NSM_NETWORK_SERVICES: "kernel://icmp/nsm-1" });
    const line = JSON.parse(await nsc.waitFor(/connected to icmp/)) as Record<string, unknown>;
    assert.equal(line.msg, "connected to icmp: nsm-1 172.16.1.101/32 ↔ endpoint icmp 172.16.1.100/32");
    assert.deepEqual(
      [line.ifname, line.ip, line.nse, line.nseIp],
      ["nsm-1", ["172.16.1.101/32"], "icmp", ["172.16.1.100/32"]],
    );
    assert.match(String(line.connId), /^nsc-\d+-0$/, "the default name is the namespace's, not a shared nsc-0");
    assert.deepEqual(
      nsc.lines.filter((l) => /"level":40/.test(l)),
      [],
      "no warning about variables the user never set",
    );
  },
);

test(
  "an unreachable registry is named: at nsmgr startup and in a Request that needs it",
  { timeout: 60_000 },
  async (t) => {
    const dir = tempDir(t);
    const p = procs(t);
    // a port nobody listens on: bind one, note it, close it
    const port = await new Promise<number>((res) => {
      const srv = createServer().listen(0, "127.0.0.1", () => {
        const a = srv.address() as AddressInfo;
        srv.close(() => res(a.port));
      });
    });
    const registry = `tcp://127.0.0.1:${port}`;
    const mgrUrl = `unix://${join(dir, "nsm.sock")}`;
    const mgr = p.start("nsmgr", { NSM_NAME: "nsmgr", NSM_LISTEN_ON: mgrUrl, NSM_REGISTRY_URL: registry });
    const warn = JSON.parse(await mgr.waitFor(/is unreachable/)) as { level: number; msg: string };
    assert.equal(warn.level, 40);
    assert.match(warn.msg, new RegExp(`registry ${registry} is unreachable`));
    await mgr.waitFor(/Startup completed/);
    const nsc = p.start("nsc", {
      NSM_NAME: "app",
      NSM_CONNECT_TO: mgrUrl,
      NSM_NETWORK_SERVICES: "kernel://icmp/nsm-1",
      NSM_REQUEST_TIMEOUT: "4s",
    });
    const failed = JSON.parse(await nsc.waitFor(/request for kernel:\/\/icmp\/nsm-1 failed/, 10_000)) as {
      err: string;
    };
    assert.ok(failed.err.includes(registry), `the error names the registry: ${failed.err}`);
  },
);
