/**
 * Server streams (registry watch, MonitorConnections) over real gRPC: a stream the caller opened
 * without a deadline lives until it is cancelled, and however it ends on our side the caller gets
 * a status. Before, such a stream was cut at the unary default deadline (15 s) without any status:
 * the caller's watch or heal monitor looked alive and heard nothing again (issue 21, item 1: the
 * forwarder killed 15 s after a client connected was never reported to it).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  create,
  NetworkServiceEndpointResponseSchema,
  type NetworkServiceEndpointResponse,
} from "../../src/api/index.js";
import { dial, newCtx, NsmError, serve, status, type NseRegistryServer } from "../../src/core/index.js";
import { nseQuery } from "../../src/registry/tools.js";

function feed() {
  const waiting: ((r: NetworkServiceEndpointResponse | Error) => void)[] = [];
  const queued: (NetworkServiceEndpointResponse | Error)[] = [];
  return {
    push(x: NetworkServiceEndpointResponse | Error) {
      const w = waiting.shift();
      if (w) w(x);
      else queued.push(x);
    },
    next: () =>
      new Promise<NetworkServiceEndpointResponse | Error>((res) => {
        const q = queued.shift();
        if (q) res(q);
        else waiting.push(res);
      }),
  };
}

const item = (name: string) => create(NetworkServiceEndpointResponseSchema, { networkServiceEndpoint: { name } });

test(
  "a server stream without a deadline outlives the unary default and ends with the server's error",
  { timeout: 15_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "nsm-stream-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const f = feed();
    const server: NseRegistryServer = {
      register: async (e) => e,
      unregister: async () => {},
      async *find(_q, ctx) {
        while (!ctx.signal.aborted) {
          const x = await f.next();
          if (x instanceof Error) throw x;
          yield x;
        }
      },
    };
    const url = `unix://${dir}/s.sock`;
    // a unary call without deadline would be cut after 300 ms; a stream must not be
    const srv = await serve([url], { nseRegistry: server }, { defaultTimeoutMs: 300 });
    const conn = dial(url);
    const got: string[] = [];
    let ended: unknown = "open";
    const ac = new AbortController();
    const reading = (async () => {
      try {
        for await (const r of conn.nseRegistry.find(nseQuery({}, true), newCtx({ signal: ac.signal })))
          got.push(r.networkServiceEndpoint!.name);
        ended = "ended without error";
      } catch (e) {
        ended = e;
      }
    })();
    try {
      f.push(item("a"));
      await new Promise((r) => setTimeout(r, 1000)); // > defaultTimeoutMs
      f.push(item("b"));
      const end = Date.now() + 3000;
      while (got.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(got, ["a", "b"], "the stream went silent after the unary default deadline");
      f.push(new NsmError(status.UNAVAILABLE, "upstream watch broke"));
      await Promise.race([reading, new Promise((r) => setTimeout(r, 3000))]);
      assert.ok(ended instanceof NsmError, `the caller saw: ${String(ended)}`);
      assert.equal(ended.code, status.UNAVAILABLE);
      assert.match(ended.message, /upstream watch broke/);
    } finally {
      ac.abort();
      conn.close();
      await srv.close();
    }
  },
);
