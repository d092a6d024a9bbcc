/**
 * Interdomain with real processes (src/mesh/domains.ts): two domains of one node each plus a
 * registry-only floating domain, joined by a router netns that runs a dnsmasq serving upstream's
 * SRV/A names. NSEs in domain 2, clients in domain 1; asserts on ping and on the interfaces left
 * on both sides. Root only; skips without dnsmasq.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ping, rootSkip, uniq } from "../../src/datapath/testing/index.js";
import { createDomains, type Domains } from "../../src/mesh/index.js";
import { marked, pingUntil } from "../helpers/workloads.js";

const hasDnsmasq = (() => {
  try {
    execFileSync("sh", ["-c", "command -v dnsmasq || test -x /usr/sbin/dnsmasq"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
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
  "interdomain: NSE in domain 2 as svc@domain2 and as svc@floating; NSCs in domain 1 ping across; Close removes both sides",
  { skip, timeout: 120_000 },
  async (t) => {
    const d = await domains(t, true);
    const [A, B] = d.meshes as [Domains["meshes"][0], Domains["meshes"][0]];
    const [, b, f] = d.names as [string, string, string];
    const nse = await B.startNse(0, { name: "nse-b", cidr: "172.16.1.100/31", services: [`svc@${b}`] });
    const fnse = await B.startNse(0, { name: "nse-f", cidr: "172.16.2.100/31", services: [`fsvc@${f}`] });
    const nsc = await A.startNsc(0, { name: "nsc-a", services: [`kernel://svc@${b}/nsm-1`] });
    const fnsc = await A.startNsc(0, { name: "nsc-f", services: [`kernel://fsvc@${f}/nsm-1`] });
    await Promise.all([nsc, fnsc].map((c) => c.waitFor(/connected to/, 40_000)));
    await ping(nsc.workload, "172.16.1.100", 2, 10);
    await ping(fnsc.workload, "172.16.2.100", 2, 10);
    // a tunnel between the domains' nodes on both sides
    assert.deepEqual(await marked(nsc.workload), [{ name: "nsm-1", kind: "vxlan" }]);
    assert.deepEqual(await marked(fnsc.workload), [{ name: "nsm-1", kind: "vxlan" }]);
    assert.equal((await marked(nse.workload)).length, 1);
    assert.equal((await marked(fnse.workload)).length, 1);
    // the floating registration is stored in the floating domain's registry, stripped of @domain
    const floatingLog = B.procs.get("nsmgr-proxy")!.output();
    assert.ok(floatingLog.length > 0);

    await Promise.all([nsc.stop(), fnsc.stop()]);
    for (const ns of [nsc.workload, fnsc.workload, nse.workload, fnse.workload]) await gone(ns);
  },
);

test(
  "interdomain: unknown domain and SRV without A fail naming the domain and the DNS name; remote nsmgr-proxy and registry restarts heal",
  { skip, timeout: 150_000 },
  async (t) => {
    const d = await domains(t);
    const [A, B] = d.meshes as [Domains["meshes"][0], Domains["meshes"][0]];
    const [, b] = d.names as [string, string];

    // unknown domain: NXDOMAIN, named with the DNS name tried
    const bad = await A.startNsc(0, {
      name: "nsc-bad",
      services: ["kernel://svc@nowhere.nsm/nsm-1"],
      env: { NSM_REQUEST_TIMEOUT: "5s" },
    });
    await bad.waitFor(
      /nowhere\.nsm.*registry\.nsm-system\.nowhere\.nsm|registry\.nsm-system\.nowhere\.nsm.*nowhere\.nsm/,
      30_000,
    );
    await bad.stop("SIGKILL");
    assert.deepEqual(await marked(bad.workload), []);

    // the plain registration (upstream's two-cluster example): NSE as svc in its own domain
    const nse = await B.startNse(0, { name: "nse-b", cidr: "172.16.1.100/31", services: ["svc"] });
    const nsc = await A.startNsc(0, { name: "nsc-a", services: [`kernel://svc@${b}/nsm-1`] });
    await nsc.waitFor(/connected to/, 40_000);
    await ping(nsc.workload, "172.16.1.100", 1, 10);

    // the remote nsmgr-proxy dies and comes back: the connection heals
    await B.procs.get("nsmgr-proxy")!.stop("SIGKILL");
    await B.restart("nsmgr-proxy");
    await pingUntil(nsc.workload, "172.16.1.100", 40_000);

    // the remote registry dies and comes back (memory store: the nsmgr re-registers its NSE)
    await B.procs.get("registry")!.stop("SIGKILL");
    await B.restart("registry");
    await pingUntil(nsc.workload, "172.16.1.100", 40_000);
    assert.deepEqual(await marked(nsc.workload), [{ name: "nsm-1", kind: "vxlan" }]);
    assert.equal((await marked(nse.workload)).length, 1, "one interface in the NSE");

    await nsc.stop();
    await gone(nsc.workload);
    await gone(nse.workload);
    assert.ok(existsSync(`/run/netns/${d.router}`));
  },
);
