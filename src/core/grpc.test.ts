import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  create,
  ConnectionEventType,
  NetworkServiceEndpointSchema,
  type NetworkServiceEndpoint,
  type NetworkServiceEndpointQuery,
  type NetworkServiceEndpointResponse,
} from "../api/index.js";
import { chain, dial, newCtx, NsmError, nseChain, serve, status, type Ctx } from "./index.js";
import { checkRequest, deferred, newRequest } from "./testing/index.js";
import { formatUrl } from "../tools/url.js";

async function roundTrip(listen: string) {
  const server = chain(
    checkRequest((req) => {
      if (req.connection!.networkService === "bad") throw new NsmError(status.NOT_FOUND, `no network service "bad"`);
      req.connection!.labels["served"] = "yes";
    }),
  );
  const entries: NetworkServiceEndpoint[] = [];
  const registry = nseChain({
    async register(e) {
      entries.push(e);
      return e;
    },
    async *find(_q: NetworkServiceEndpointQuery): AsyncGenerator<NetworkServiceEndpointResponse> {
      for (const e of entries)
        yield { $typeName: "registry.NetworkServiceEndpointResponse", networkServiceEndpoint: e, deleted: false };
    },
  });
  const srv = await serve([listen], {
    networkService: server,
    nseRegistry: registry,
    monitor: {
      async *monitorConnections() {
        yield { $typeName: "connection.ConnectionEvent", type: ConnectionEventType.UPDATE, connections: {} };
      },
    },
  });
  const conn = dial(srv.urls[0]!);
  try {
    const c = await conn.networkService.request(
      newRequest("id-1", { networkService: "good" }),
      newCtx({ timeoutMs: 2000 }),
    );
    assert.equal(c.id, "id-1");
    assert.equal(c.labels["served"], "yes");
    await assert.rejects(
      conn.networkService.request(newRequest("id-2", { networkService: "bad" }), newCtx({ timeoutMs: 2000 })),
      (e: NsmError) => e.code === status.NOT_FOUND && /no network service "bad"/.test(e.message),
    );
    await conn.networkService.close(c, newCtx({ timeoutMs: 2000 }));
    const reg = await conn.nseRegistry.register(
      create(NetworkServiceEndpointSchema, { name: "nse-1", url: "tcp://127.0.0.1:1" }),
      newCtx({ timeoutMs: 2000 }),
    );
    assert.equal(reg.name, "nse-1");
    const found: string[] = [];
    for await (const r of conn.nseRegistry.find(
      { $typeName: "registry.NetworkServiceEndpointQuery", watch: false } as NetworkServiceEndpointQuery,
      newCtx({ timeoutMs: 2000 }),
    ))
      found.push(r.networkServiceEndpoint!.name);
    assert.deepEqual(found, ["nse-1"]);
    const events = [];
    for await (const ev of conn.monitor.monitorConnections(
      { $typeName: "connection.MonitorScopeSelector", pathSegments: [], networkServices: [] },
      newCtx({ timeoutMs: 2000 }),
    ))
      events.push(ev.type);
    assert.deepEqual(events, [ConnectionEventType.UPDATE]);
  } finally {
    conn.close();
    await srv.close();
  }
}

test("grpc round trip over a unix socket", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nsm-grpc-"));
  try {
    await roundTrip(`unix://${dir}/sub/nsm.sock`);
    assert.equal(existsSync(`${dir}/sub/nsm.sock`), false, "socket file removed on close");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("grpc round trip over tcp on loopback", async () => {
  await roundTrip("tcp://127.0.0.1:0");
});

test("a dial error names the URL: missing unix socket, refused tcp port", { timeout: 15_000 }, async () => {
  for (const url of ["unix:///nonexistent/nsm-test.sock", "tcp://127.0.0.1:1"]) {
    const conn = dial(url);
    try {
      await assert.rejects(conn.networkService.request(newRequest("x"), newCtx({ timeoutMs: 5000 })), (e: NsmError) => {
        assert.equal(e.code, status.UNAVAILABLE, e.message);
        assert.ok(e.message.startsWith(`${url} request: `), `"${e.message}" does not name ${url}`);
        return true;
      });
    } finally {
      conn.close();
    }
  }
});

/** A server whose Request never answers; `arrived` resolves with the server-side ctx of the first call. */
async function hangingServer() {
  const arrived = deferred<Ctx>();
  const srv = await serve(["tcp://127.0.0.1:0"], {
    networkService: chain({
      request: (_r, ctx) => {
        arrived.resolve(ctx);
        return new Promise(() => {});
      },
    }),
  });
  return { srv, arrived: arrived.promise, url: formatUrl(srv.urls[0]!) };
}

test("a call past its deadline fails with DEADLINE_EXCEEDED naming the URL", { timeout: 10_000 }, async () => {
  const { srv, url } = await hangingServer();
  const conn = dial(url);
  try {
    await assert.rejects(conn.networkService.request(newRequest("slow"), newCtx({ timeoutMs: 200 })), (e: NsmError) => {
      assert.equal(e.code, status.DEADLINE_EXCEEDED, e.message);
      assert.ok(e.message.startsWith(`${url} request: `), `"${e.message}" does not name ${url}`);
      return true;
    });
  } finally {
    conn.close();
    await srv.close();
  }
});

test("a cancelled caller aborts the server-side ctx", { timeout: 10_000 }, async () => {
  const { srv, arrived, url } = await hangingServer();
  const conn = dial(url);
  const ac = new AbortController();
  const p = conn.networkService.request(newRequest("slow"), newCtx({ signal: ac.signal, timeoutMs: 5000 }));
  const serverCtx = await arrived;
  const serverAborted = new Promise<void>((res) =>
    serverCtx.signal.addEventListener("abort", () => res(), { once: true }),
  );
  ac.abort();
  await assert.rejects(p, (e: NsmError) => e.code === status.CANCELLED && e.message.startsWith(`${url} request: `));
  await serverAborted;
  assert.equal(serverCtx.signal.reason.code, status.CANCELLED);
  conn.close();
  await srv.close();
});
