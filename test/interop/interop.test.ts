// Interop with upstream NSM (networkservicemesh/sdk v1.13.2, test/interop/peer) on unix sockets
// as deployed: fds travel beside the gRPC bytes both ways (grpcfd), refresh with 3 s tokens,
// Close, heal, and the kernel datapath across namespaces. Our components run in this process,
// upstream's as child processes. Skips (saying why) when Go is not installed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { kernel } from "../../src/api/index.js";
import { nullBackend } from "../../src/forwarder/backends/null/index.js";
import { kernelBackend } from "../../src/forwarder/backends/kernel/index.js";
import { ping, rootSkip, sandbox as dpSandbox } from "../../src/datapath/testing/index.js";
import { closeGoNsc, conn, firstConn, goShortNsc, ident, ourNsmgr, rig, skip, sleep } from "./rig.js";

test(
  "upstream NSC → our nsmgr (upstream registry) → our forwarder → upstream NSE: fds, 3 s tokens refreshed, Close at once",
  { skip, timeout: 90_000 },
  async (t) => {
    const r = rig(t);
    const reg = r.go(["-mode", "registry", "-listen", r.sock("registry")]);
    await reg.line(/^READY/);
    // known gap, left open: upstream's registry caps an entry's expiry at the registering token's; our
    // nsmgr does not relay that cap back to the NSE/forwarder: with 3 s nsmgr tokens entries lapse upstream
    const { mgr, backend } = await ourNsmgr(r, {
      base: r.short,
      backend: nullBackend(),
      nsmgr: { maxTokenLifetimeMs: 60_000, registryUrl: r.sock("registry") },
    });
    const nse = r.go([
      "-mode",
      "nse",
      "-name",
      "nse-go",
      "-connect-to",
      mgr.url,
      "-cidr",
      "172.16.5.0/24",
      "-token-lifetime",
      "3s",
    ]);
    const ready = await nse.line(/^READY/);
    const nseSock = ready.split(" ")[1]!.slice("unix://".length);
    // registered as inode:// with the socket's fd: nsmgr reaches the NSE through the fd it received
    const local = mgr.registry.localBypass.get("nse-go")!;
    assert.match(local, /^unix:\/\/\/proc\/\d+\/fd\/\d+$/, `NSE URL as nsmgr keeps it: ${local}`);
    assert.equal(ident(local.slice("unix://".length)), ident(nseSock));

    const nsc = goShortNsc(r, mgr.url);
    const c = await firstConn(nsc);
    assert.deepEqual(
      c.path.pathSegments.map((s) => s.name),
      ["nsc-go", "nsmgr", "fwd", "nse-go"],
    );
    const x = [...backend.crossConnects.values()][0];
    assert.ok(x, `a cross connect for ${c.id}: counts ${JSON.stringify(backend.counts)}`);
    assert.match(
      kernel.netnsUrlOf(x.incoming) ?? "",
      /^file:\/\/\/proc\/\d+\/fd\/\d+$/,
      "the NSC's netns arrived as an fd",
    );
    assert.match(
      kernel.netnsUrlOf(x.outgoing) ?? "",
      /^file:\/\/\/proc\/\d+\/fd\/\d+$/,
      "the NSE's netns arrived as an fd",
    );
    assert.equal(ident(kernel.netnsUrlOf(x.incoming)!.slice(7)), ident("/proc/self/ns/net"));
    // 3 s tokens: the upstream client refreshes through us; the NSE keeps the connection
    await sleep(7000);
    assert.equal(backend.crossConnects.size, 1, "the connection survived two token lifetimes");
    await closeGoNsc(nsc, backend, 2000);
  },
);

test(
  "heal: the upstream NSC moves to the other upstream NSE when its NSE dies (our nsmgr and forwarder)",
  { skip, timeout: 90_000 },
  async (t) => {
    const r = rig(t);
    const { mgr, backend } = await ourNsmgr(r, { base: r.common, backend: nullBackend() });
    const nses = ["nse-a", "nse-b"].map((n, i) =>
      r.go(["-mode", "nse", "-name", n, "-connect-to", mgr.url, "-cidr", `172.16.${7 + i}.0/24`]),
    );
    for (const n of nses) await n.line(/^READY/);
    const nsc = r.go(["-mode", "nsc", "-name", "nsc-go", "-connect-to", mgr.url]);
    const first = conn(await nsc.line(/^CONN/, 20_000));
    const used = first.networkServiceEndpointName!;
    const from = nsc.lines.length;
    await nses[used === "nse-a" ? 0 : 1]!.stop();
    // upstream's heal re-requests; our nsmgr/forwarder reselect the live NSE
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(200)) {
      const x = [...backend.crossConnects.values()][0];
      if (x && x.outgoing.networkServiceEndpointName && x.outgoing.networkServiceEndpointName !== used) break;
    }
    const x = [...backend.crossConnects.values()][0];
    assert.ok(x, `a cross connect exists after heal; nsc said: ${nsc.lines.slice(from).join(" | ")}`);
    assert.notEqual(x.outgoing.networkServiceEndpointName, used, "healed to the other NSE");
  },
);

test(
  "nsmgr restart: our nsmgr restarted under the upstream NSE, our forwarder and the upstream NSC; both re-register (fds) and the NSC requests again",
  { skip, timeout: 90_000 },
  async (t) => {
    const r = rig(t);
    const mesh = await ourNsmgr(r, { base: r.common, backend: nullBackend() });
    const { backend } = mesh;
    const nse = r.go(["-mode", "nse", "-name", "nse-go", "-connect-to", mesh.mgr.url, "-cidr", "172.16.11.0/24"]);
    await nse.line(/^READY/);
    const nsc = r.go(["-mode", "nsc", "-name", "nsc-go", "-connect-to", mesh.mgr.url, "-request-timeout", "2s"]);
    const first = await firstConn(nsc);
    await mesh.restartNsmgr();
    const mgr = mesh.mgr;
    // the forwarder (ours) and the NSE (upstream's registry heal) register again, URLs as fds
    for (const end = Date.now() + 15_000; Date.now() < end; await sleep(100))
      if (mgr.registry.localBypass.has("fwd") && mgr.registry.localBypass.has("nse-go")) break;
    for (const n of ["fwd", "nse-go"])
      assert.match(mgr.registry.localBypass.get(n) ?? "", /^unix:\/\/\/proc\/\d+\/fd\/\d+$/, `${n} re-registered`);
    let again: ReturnType<typeof conn> | undefined;
    for (const end = Date.now() + 20_000; !again && Date.now() < end; await sleep(300)) {
      const from = nsc.lines.length;
      nsc.send("request");
      const l = await nsc.line(/^(CONN|ERROR)/, 10_000, from);
      if (l.startsWith("CONN")) again = conn(l);
    }
    assert.ok(again, `the NSC requests again through the new nsmgr: ${nsc.lines.slice(-5).join(" | ")}`);
    assert.equal(again.networkServiceEndpointName, first.networkServiceEndpointName);
    assert.deepEqual(again.context?.ipContext?.srcIpAddrs, first.context?.ipContext?.srcIpAddrs, "same addresses");
    assert.equal(backend.crossConnects.size, 1);
  },
);

test(
  "kernel datapath: upstream NSC and NSE in their own namespaces, our nsmgr and kernel forwarder between; ping",
  { skip: skip || rootSkip, timeout: 90_000 },
  async (t) => {
    const sb = dpSandbox(t);
    const r = rig(t);
    const backend = await kernelBackend({ stateDir: join(r.dir, "fwd-state"), staleAfterMs: 60_000 });
    const { mgr } = await ourNsmgr(r, { base: r.common, backend, afterForwarderClose: () => backend.idle() });
    const nseNs = sb.netns();
    const nscNs = sb.netns();
    const nse = r.go(["-mode", "nse", "-name", "nse-go", "-connect-to", mgr.url, "-cidr", "172.16.9.0/24"], {
      netns: nseNs.name,
    });
    await nse.line(/^READY/);
    const nsc = r.go(["-mode", "nsc", "-name", "nsc-go", "-connect-to", mgr.url, "-ifname", "nsm-1"], {
      netns: nscNs.name,
    });
    const c = await firstConn(nsc);
    const dst = c.context?.ipContext?.dstIpAddrs?.[0]?.split("/")[0];
    assert.ok(dst, "the NSE gave addresses");
    await ping(nscNs.name, dst, 1, 10).catch((e: unknown) => {
      const show = (ns: string) =>
        execFileSync("ip", ["-n", ns, "-br", "addr"], { encoding: "utf8" }) +
        execFileSync("ip", ["-n", ns, "route"], { encoding: "utf8" });
      throw new Error(
        `${(e as Error).message}\nnsc ${show(nscNs.name)}\nnse ${show(nseNs.name)}\nconn ${JSON.stringify(c)}`,
        { cause: e },
      );
    });
    const from = nsc.lines.length;
    nsc.send("close");
    assert.match(await nsc.line(/^(CLOSED|ERROR)/, 15_000, from), /^CLOSED/);
  },
);
