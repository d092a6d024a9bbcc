// Interop with upstream NSM (sdk v1.13.2, test/interop/peer) under upstream's nsmgr: our
// forwarder, NSE and NSC register and connect through it on unix sockets with fds (grpcfd),
// 3 s tokens refreshed, Close. Skips (saying why) when Go is not installed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { kernel } from "../../src/api/index.js";
import { newCtx, serve } from "../../src/core/index.js";
import { createRegistry } from "../../src/registry/chains/registry.js";
import { nullBackend } from "../../src/forwarder/backends/null/index.js";
import { createClient, createEndpoint, createForwarder } from "../../src/networkservice/components.js";
import { parseNsUrl, requestFromNsUrl } from "../../src/networkservice/utils/nsurl.js";
import { conn, rig, skip, sleep } from "./rig.js";

test(
  "our NSC → upstream nsmgr (our registry) → our forwarder → our NSE: forwarder and NSE URLs travel as fds, 3 s tokens refreshed, Close",
  { skip, timeout: 90_000 },
  async (t) => {
    const r = rig(t);
    const reg = await createRegistry({ signal: r.common.signal, name: "registry" });
    r.defer(() => reg.close());
    const regSrv = await serve([r.sock("registry")], { nseRegistry: reg.nse, nsRegistry: reg.ns });
    r.defer(() => regSrv.close());
    const mgrSock = r.sock("nsmgr-go");
    const mgr = r.go([
      "-mode",
      "nsmgr",
      "-name",
      "nsmgr-go",
      "-listen",
      mgrSock,
      "-registry-url",
      regSrv.urls[0]!.href,
    ]);
    await mgr.line(/^READY/);
    const backend = nullBackend();
    const fwd = await createForwarder({
      ...r.short,
      name: "fwd",
      listenOn: [r.sock("fwd")],
      nsmgrUrl: mgrSock,
      backend,
    });
    r.defer(() => fwd.close());
    const nse = await createEndpoint({
      ...r.short,
      name: "nse-ts",
      listenOn: [r.sock("nse")],
      nsmgrUrl: mgrSock,
      services: ["icmp"],
      cidrs: ["172.16.6.0/24"],
    });
    r.defer(() => nse.close());
    const nsc = await createClient({ ...r.short, name: "nsc-ts", nsmgrUrl: mgrSock, heal: false });
    r.defer(() => nsc.close());
    const req = requestFromNsUrl(parseNsUrl("kernel://icmp/nsm-1"), "nsc-ts-0");
    // the request's budget must stay below the 3 s token lifetime (timeout closes at expiry − budget)
    const c = await nsc.client.request(req, newCtx({ timeoutMs: 1000 })).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; upstream nsmgr said: ${mgr.stderr.slice(-3000)}`, { cause: e });
    });
    assert.deepEqual(
      c.path!.pathSegments.map((s) => s.name),
      ["nsc-ts", "nsmgr-go", "fwd", "nse-ts"],
    );
    const x = [...backend.crossConnects.values()][0]!;
    assert.match(
      kernel.netnsUrlOf(x.incoming) ?? "",
      /^file:\/\/\/proc\/\d+\/fd\/\d+$/,
      "the NSC's netns arrived as an fd",
    );
    await sleep(7000);
    assert.equal(backend.crossConnects.size, 1, "refreshed through upstream's nsmgr for two token lifetimes");
    const t0 = Date.now();
    await nsc.client.close(c, newCtx({ timeoutMs: 15_000 }));
    assert.ok(Date.now() - t0 < 2000, `Close took ${Date.now() - t0} ms`);
    assert.equal(backend.crossConnects.size, 0);
  },
);

test(
  "upstream NSC → upstream nsmgr (upstream registry) → our forwarder → our NSE: 3 s tokens refreshed, Close at once",
  { skip, timeout: 90_000 },
  async (t) => {
    const r = rig(t);
    const reg = r.go(["-mode", "registry", "-listen", r.sock("registry")]);
    await reg.line(/^READY/);
    const mgrSock = r.sock("nsmgr-go");
    const mgr = r.go(["-mode", "nsmgr", "-name", "nsmgr-go", "-listen", mgrSock, "-registry-url", r.sock("registry")]);
    await mgr.line(/^READY/);
    const backend = nullBackend();
    const fwd = await createForwarder({
      ...r.short,
      name: "fwd",
      listenOn: [r.sock("fwd")],
      nsmgrUrl: mgrSock,
      backend,
    });
    r.defer(() => fwd.close());
    const nse = await createEndpoint({
      ...r.short,
      name: "nse-ts",
      listenOn: [r.sock("nse")],
      nsmgrUrl: mgrSock,
      services: ["icmp-responder"],
      cidrs: ["172.16.10.0/24"],
    });
    r.defer(() => nse.close());
    const nsc = r.go([
      "-mode",
      "nsc",
      "-name",
      "nsc-go",
      "-connect-to",
      mgrSock,
      "-token-lifetime",
      "3s",
      "-request-timeout",
      "1s",
    ]);
    const c = conn(await nsc.line(/^(CONN|ERROR)/, 20_000).then((l) => (l.startsWith("ERROR") ? assert.fail(l) : l)));
    assert.deepEqual(
      c.path.pathSegments.map((s) => s.name),
      ["nsc-go", "nsmgr-go", "fwd", "nse-ts"],
    );
    const x = [...backend.crossConnects.values()][0]!;
    assert.match(
      kernel.netnsUrlOf(x.incoming) ?? "",
      /^file:\/\/\/proc\/\d+\/fd\/\d+$/,
      "the NSC's netns came as an fd",
    );
    await sleep(7000);
    assert.equal(backend.crossConnects.size, 1, "refreshed through upstream's nsmgr for two token lifetimes");
    assert.ok(!nsc.lines.some((l) => l.startsWith("ERROR")), nsc.lines.join("\n"));
    const from = nsc.lines.length;
    nsc.send("close");
    const closed = await nsc.line(/^(CLOSED|ERROR)/, 15_000, from);
    assert.match(closed, /^CLOSED \d+$/, closed);
    assert.ok(Number(closed.split(" ")[1]) < 2000, `Close took ${closed.split(" ")[1]} ms`);
    assert.equal(backend.crossConnects.size, 0);
  },
);
