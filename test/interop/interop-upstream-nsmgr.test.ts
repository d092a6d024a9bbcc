// Interop with upstream NSM (sdk v1.13.2, test/interop/peer) under upstream's nsmgr: our
// forwarder, NSE and NSC register and connect through it on unix sockets with fds (grpcfd),
// 3 s tokens refreshed, Close. Skips (saying why) when Go is not installed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { kernel } from "../../src/api/index.js";
import { newCtx, serve } from "../../src/core/index.js";
import { createRegistry } from "../../src/registry/chains/registry.js";
import { closeGoNsc, firstConn, goShortNsc, rig, skip, sleep, underGoNsmgr } from "./rig.js";

test(
  "our NSC → upstream nsmgr (our registry) → our forwarder → our NSE: forwarder and NSE URLs travel as fds, 3 s tokens refreshed, Close",
  { skip, timeout: 90_000 },
  async (t) => {
    const r = rig(t);
    const reg = await createRegistry({ signal: r.common.signal, name: "registry" });
    r.defer(() => reg.close());
    const regSrv = await serve([r.sock("registry")], { nseRegistry: reg.nse, nsRegistry: reg.ns });
    r.defer(() => regSrv.close());
    const { backend, request } = await underGoNsmgr(r, {
      base: r.short,
      registryUrl: regSrv.urls[0]!.href,
      service: "icmp",
      cidr: "172.16.6.0/24",
    });
    const { nsc, c } = await request();
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
    const t0 = performance.now();
    await nsc.client.close(c, newCtx({ timeoutMs: 15_000 }));
    assert.ok(performance.now() - t0 < 2000, `Close took ${performance.now() - t0} ms`);
    assert.equal(backend.crossConnects.size, 0);
  },
);

test(
  "upstream NSC → upstream nsmgr (upstream registry) → our forwarder → our NSE: 3 s tokens refreshed, Close at once",
  { skip, timeout: 90_000 },
  async (t) => {
    const r = rig(t);
    const { url: mgrSock, backend } = await underGoNsmgr(r, {
      base: r.short,
      service: "icmp-responder",
      cidr: "172.16.10.0/24",
    });
    const nsc = goShortNsc(r, mgrSock);
    const c = await firstConn(nsc);
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
    await closeGoNsc(nsc, backend, 2000);
  },
);
