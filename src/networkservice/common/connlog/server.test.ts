import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { pino } from "pino";
import { chain, newCtx } from "../../../core/index.js";
import { injectError, newRequest } from "../../../core/testing/index.js";
import { connlogServer } from "./server.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split("\n").filter(Boolean))
        lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, log: pino({ level: "debug" }, dest).child({ connId: "c1" }) };
}

test("connlog: a first Request and a Close at INFO, a refresh at DEBUG, a failure at WARN, each with connId", async () => {
  const { lines, log } = capture();
  const server = chain(connlogServer(), injectError({ onRequest: [2] }));
  const ctx = newCtx({ timeoutMs: 1000, log });
  const conn = await server.request(newRequest("c1"), ctx);
  await server.request(newRequest("c1"), ctx);
  await assert.rejects(server.request(newRequest("c1"), ctx), /injected/);
  await server.close(conn, ctx);
  assert.deepEqual(
    lines.map((l) => [l.level, l.kind, l.connId]),
    [
      [30, "request", "c1"],
      [20, "refresh", "c1"],
      [40, "refresh", "c1"],
      [30, "close", "c1"],
    ],
  );
  assert.match(String(lines[2]!.err), /injected/);
});
