// onIdleServer: idle from the start → onIdle once and later Requests refused; a live connection
// keeps the endpoint alive (refreshes count once); the last Close starts the idle time; 0 = never.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chain } from "../../../core/index.js";
import { newRequest, testCtx } from "../../../core/testing/index.js";
import { onIdleServer } from "./server.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("onidle: idle from the start → onIdle once, then Requests are refused", async (t) => {
  const life = new AbortController();
  t.after(() => life.abort());
  let fired = 0;
  const idle = onIdleServer({ timeoutMs: 60, signal: life.signal, onIdle: () => fired++ });
  const s = chain(idle);
  await sleep(200);
  assert.equal(fired, 1);
  assert.ok(idle.expired);
  await assert.rejects(s.request(newRequest("late"), testCtx()), /endpoint expired.*late/);
  await sleep(100);
  assert.equal(fired, 1, "once");
});

test("onidle: a live connection keeps it; the last Close starts the idle time", async (t) => {
  const life = new AbortController();
  t.after(() => life.abort());
  let fired = 0;
  const s = chain(onIdleServer({ timeoutMs: 100, signal: life.signal, onIdle: () => fired++ }));
  const a = await s.request(newRequest("a"), testCtx());
  await s.request(newRequest("a"), testCtx()); // a refresh
  const b = await s.request(newRequest("b"), testCtx());
  await sleep(250);
  assert.equal(fired, 0, "connections live");
  await s.close(a, testCtx());
  await sleep(250);
  assert.equal(fired, 0, "b still lives");
  await s.close(b, testCtx());
  await sleep(250);
  assert.equal(fired, 1);
});

test("onidle: timeout 0 never fires; the lifetime's end stops the timer", async (t) => {
  const life = new AbortController();
  t.after(() => life.abort());
  let fired = 0;
  onIdleServer({ timeoutMs: 0, signal: life.signal, onIdle: () => fired++ });
  const ended = new AbortController();
  onIdleServer({ timeoutMs: 50, signal: ended.signal, onIdle: () => fired++ });
  ended.abort();
  await sleep(150);
  assert.equal(fired, 0);
});
