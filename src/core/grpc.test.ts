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
import { chain, dial, newCtx, NsmError, nseChain, serve, status } from "./index.js";
import { checkRequest, newRequest } from "./testing/index.js";

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

test("dial to a missing socket fails with UNAVAILABLE naming the URL", async () => {
  const conn = dial("unix:///nonexistent/nsm-test.sock");
  try {
    await assert.rejects(
      conn.networkService.request(newRequest("x"), newCtx({ timeoutMs: 500 })),
      (e: NsmError) =>
        (e.code === status.UNAVAILABLE && /nonexistent/.test(e.message)) || e.code === status.DEADLINE_EXCEEDED,
    );
  } finally {
    conn.close();
  }
});

test("a cancelled caller aborts the server-side ctx", async () => {
  let aborted: Promise<void> | undefined;
  const srv = await serve(["tcp://127.0.0.1:0"], {
    networkService: chain({
      request: (_r, ctx) => {
        aborted = new Promise<void>((res) => ctx.signal.addEventListener("abort", () => res(), { once: true }));
        return new Promise(() => {});
      },
    }),
  });
  const conn = dial(srv.urls[0]!);
  const ac = new AbortController();
  const p = conn.networkService.request(newRequest("slow"), newCtx({ signal: ac.signal, timeoutMs: 5000 }));
  while (!aborted) await new Promise((r) => setTimeout(r, 5));
  ac.abort();
  await assert.rejects(p, (e: NsmError) => e.code === status.CANCELLED);
  await aborted;
  conn.close();
  await srv.close();
});
