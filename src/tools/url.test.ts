import { test } from "node:test";
import assert from "node:assert/strict";
import { dialTarget, listenTarget, parseUrl } from "./url.js";

test("NSM URL forms map to grpc targets as upstream", () => {
  const u = parseUrl("unix:///var/lib/networkservicemesh/nsm.io.sock");
  assert.equal(u.scheme, "unix");
  assert.equal(dialTarget(u), "unix:///var/lib/networkservicemesh/nsm.io.sock");
  assert.equal(dialTarget(parseUrl("tcp://localhost:5001")), "localhost:5001");
  assert.equal(dialTarget(parseUrl("tcp://[::1]:5001")), "[::1]:5001");
  assert.equal(listenTarget(parseUrl("tcp://:5001")), "0.0.0.0:5001");
});

test("bad URLs are rejected naming the value", () => {
  assert.throws(() => parseUrl("http://x:1"), /invalid URL "http:\/\/x:1": scheme/);
  assert.throws(() => parseUrl("unix://relative.sock"), /absolute path/);
  assert.throws(() => parseUrl("tcp://host"), /tcp:\/\/host:port/);
  assert.throws(() => parseUrl("tcp://host:99999"), /out of range/);
});
