/**
 * Interdomain with real processes (src/mesh/domains.ts): two domains of one node each plus a
 * registry-only floating domain, joined by a router netns that runs a dnsmasq serving upstream's
 * SRV/A names. NSEs in domain 2, clients in domain 1; asserts on ping and on the interfaces left
 * on both sides. Root only; skips without dnsmasq.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ping, rootSkip, uniq } from "../../src/datapath/testing/index.js";
import { alive, createDomains, destroyMesh, readMeshState, type Domains } from "../../src/mesh/index.js";
import { marked, pingUntil } from "../helpers/workloads.js";

const hasDnsmasq = (() => {
  try {
    execFileSync("sh", ["-c", "command -v dnsmasq || test -x /usr/sbin/dnsmasq"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
const bin = new URL("../../bin/nsm.mjs", import.meta.url).pathname;
const exec = promisify(execFile);
const skip = rootSkip || (hasDnsmasq ? false : "dnsmasq is not installed (npm run setup installs it)");

async function domains(t: TestContext, floating = false): Promise<Domains> {
  const id = uniq();
  const d = await createDomains({
    id,
    dir: mkdtempSync(join(tmpdir(), `nsm-id-${id}-`)),
    count: 2,
    nodes: 1,
    floating,
    forwarderStaleTimeout: "5s",
  });
  t.after(() => d.close());
  return d;
}

async function gone(netns: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while ((await marked(netns)).length && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await marked(netns), [], `interfaces left in ${netns}`);
}

test(
  "interdomain: svc@domain2, floating svc@domain3 and plain svc from domain 1: ping across, Close clears both sides; unknown domain named; remote nsmgr-proxy and registry restarts heal",
  { skip, timeout: 200_000 },
  async (t) => {
    const d = await domains(t, true);
    const [A, B] = d.meshes as [Domains["meshes"][0], Domains["meshes"][0]];
    const [, b, f] = d.names as [string, string, string];

    // NSE registered in domain 2 as svc@domain2, and one as fsvc@domain3 (the registry-only domain)
    const nse = await B.startNse(0, { name: "nse-b", cidr: "172.16.1.100/31", services: [`svc@${b}`] });
    const fnse = await B.startNse(0, { name: "nse-f", cidr: "172.16.2.100/31", services: [`fsvc@${f}`] });
    const nsc = await A.startNsc(0, { name: "nsc-a", services: [`kernel://svc@${b}/nsm-1`] });
    const fnsc = await A.startNsc(0, { name: "nsc-f", services: [`kernel://fsvc@${f}/nsm-1`] });
    // unknown domain: the error names the domain and the DNS name tried
    const bad = await A.startNsc(0, {
      name: "nsc-bad",
      services: ["kernel://svc@nowhere.nsm/nsm-1"],
      env: { NSM_REQUEST_TIMEOUT: "5s" },
    });
    await Promise.all([nsc, fnsc].map((c) => c.waitFor(/connected to/, 60_000)));
    await ping(nsc.workload, "172.16.1.100", 2, 10);
    await ping(fnsc.workload, "172.16.2.100", 2, 10);
    // a tunnel between the domains' nodes on both sides
    assert.deepEqual(await marked(nsc.workload), [{ name: "nsm-1", kind: "vxlan" }]);
    assert.deepEqual(await marked(fnsc.workload), [{ name: "nsm-1", kind: "vxlan" }]);
    assert.equal((await marked(nse.workload)).length, 1);
    assert.equal((await marked(fnse.workload)).length, 1);
    await bad.waitFor(/domain nowhere\.nsm: registry\.nsm-system\.nowhere\.nsm does not exist \(NXDOMAIN/, 30_000);
    await bad.stop("SIGKILL");
    assert.deepEqual(await marked(bad.workload), []);

    // Close removes everything on both sides
    await Promise.all([nsc.stop(), fnsc.stop()]);
    for (const ns of [nsc.workload, fnsc.workload, nse.workload, fnse.workload]) await gone(ns);

    // upstream's two-cluster example: the NSE registers plain svc in its own domain
    const plain = await B.startNse(0, { name: "nse-p", cidr: "172.16.3.100/31", services: ["psvc"] });
    const pnsc = await A.startNsc(0, { name: "nsc-p", services: [`kernel://psvc@${b}/nsm-1`] });
    await pnsc.waitFor(/connected to/, 60_000);
    await ping(pnsc.workload, "172.16.3.100", 1, 10);

    // the remote nsmgr-proxy dies and comes back: the connection heals
    const nsmgrB = B.procs.get("nsmgr-0")!;
    const mark = nsmgrB.output().length;
    await B.procs.get("nsmgr-proxy")!.stop("SIGKILL");
    await B.restart("nsmgr-proxy");
    const restarted = Date.now();
    await pingUntil(pnsc.workload, "172.16.3.100", 40_000);
    // the NSEs registered through it (svc@domain2, fsvc@domain3) are known to it again at once
    // (their nsmgr's heal watch broke with it), not only at their next refresh (~40 s)
    for (const n of ["nse-b", "nse-f"])
      await nsmgrB.waitFor(new RegExp(`"name":"${n}@[^"]*".*registry client: re-registering`), 20_000, mark);
    const nsc2 = await A.startNsc(0, { name: "nsc-a2", services: [`kernel://svc@${b}/nsm-1`] });
    const fnsc2 = await A.startNsc(0, { name: "nsc-f2", services: [`kernel://fsvc@${f}/nsm-1`] });
    await Promise.all([nsc2, fnsc2].map((c) => c.waitFor(/connected to/, 25_000)));
    await ping(nsc2.workload, "172.16.1.100", 1, 10);
    await ping(fnsc2.workload, "172.16.2.100", 1, 10);
    t.diagnostic(`svc@${b} and fsvc@${f} connected ${Date.now() - restarted} ms after the nsmgr-proxy restart`);
    await Promise.all([nsc2.stop(), fnsc2.stop()]);
    for (const ns of [nsc2.workload, fnsc2.workload, nse.workload, fnse.workload]) await gone(ns);

    // the remote registry dies and comes back (memory store: the nsmgr registers its NSE again)
    await B.procs.get("registry")!.stop("SIGKILL");
    await B.restart("registry");
    await pingUntil(pnsc.workload, "172.16.3.100", 40_000);
    assert.deepEqual(await marked(pnsc.workload), [{ name: "nsm-1", kind: "vxlan" }]);
    assert.equal((await marked(plain.workload)).length, 1, "one interface in the NSE");

    await pnsc.stop();
    await gone(pnsc.workload);
    await gone(plain.workload);
  },
);

test(
  "nsm up NSM_UP_DOMAINS=2: prints the interdomain URL; the dnsmasq it started answers; nsm down stops it and leaves no namespace",
  { skip, timeout: 120_000 },
  async (t) => {
    const id = uniq().replace(/-/g, "");
    const dir = mkdtempSync(join(tmpdir(), `nsm-upd-${id}-`));
    const env = {
      ...process.env,
      NSM_UP_ID: id,
      NSM_UP_STATE: join(dir, "mesh.json"),
      NSM_UP_SOCKET: join(dir, "nsm.io.sock"),
      NSM_UP_DOMAINS: "2",
      NSM_LOG_FORMAT: "json",
    };
    t.after(async () => {
      const s = readMeshState(env.NSM_UP_STATE);
      if (s) await destroyMesh(s).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    });
    const up = await exec(process.execPath, [bin, "up"], { env, timeout: 100_000 });
    assert.match(up.stdout, /NSM_NETWORK_SERVICES=kernel:\/\/icmp-responder@domain2\.nsm\/nsm-1/);
    const state = readMeshState(env.NSM_UP_STATE)!;
    const dm = state.linked!.dnsmasq!;
    assert.ok(alive(dm.pid), "dnsmasq runs");
    // the dnsmasq answers upstream's names, asked from a domain's fabric as registry-proxy-dns does
    const dig = await exec("ip", [
      "netns",
      "exec",
      state.fabric,
      process.execPath,
      "--import",
      "tsx",
      "-e",
      `import("${new URL("../../src/tools/dns/resolver.ts", import.meta.url).pathname}").then(async (m) => console.log(await new m.DnsResolver({ server: "198.19.0.254:53" }).resolve(m.REGISTRY_SERVICE, "domain2.nsm")))`,
    ]);
    assert.equal(dig.stdout.trim(), "tcp://198.18.2.254:5002");
    const all = [
      ...state.netns,
      ...state.linked!.netns,
      ...state.linked!.states.flatMap((f) => readMeshState(f)!.netns),
    ];
    const down = await exec(process.execPath, [bin, "down"], { env, timeout: 60_000 });
    assert.match(down.stdout, new RegExp(`removed ${all.length} namespace`));
    assert.ok(!alive(dm.pid), "dnsmasq stopped");
    for (const ns of all) assert.ok(!existsSync(`/run/netns/${ns}`), `netns ${ns} left`);
    assert.equal(readMeshState(env.NSM_UP_STATE), undefined);
  },
);
