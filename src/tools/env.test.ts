import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, envReader, parseDuration } from "./env.js";

test("Go durations parse to milliseconds", () => {
  assert.equal(parseDuration("750ms"), 750);
  assert.equal(parseDuration("15s"), 15_000);
  assert.equal(parseDuration("1m30s"), 90_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("0"), 0);
  assert.throws(() => parseDuration("15"), /not a duration/);
  assert.throws(() => parseDuration("fast"), /not a duration/);
});

test("env reader: defaults, lists, maps, urls", () => {
  const e = envReader({
    NSM_LIST: "a, b,,c",
    NSM_MAP: "app:foo,tier:db",
    NSM_URL: "tcp://127.0.0.1:5001",
    NSM_EMPTY: "",
  });
  assert.deepEqual(e.list("NSM_LIST", []), ["a", "b", "c"]);
  assert.deepEqual(e.list("NSM_EMPTY", ["x"]), ["x"], "empty counts as unset");
  assert.deepEqual(e.map("NSM_MAP"), { app: "foo", tier: "db" });
  assert.equal(e.url("NSM_URL", "unix:///x").href, "tcp://127.0.0.1:5001");
  assert.equal(e.duration("NSM_DIAL_TIMEOUT", "750ms"), 750);
  assert.equal(e.string("NSM_NAME", "nmgr"), "nmgr");
});

test("env errors name the variable and the value", () => {
  const e = envReader({
    NSM_DIAL_TIMEOUT: "fast",
    NSM_REGISTRY_URL: "http://x",
    NSM_MAX: "abc",
    NSM_FLAG: "maybe",
    NSM_M: "novalue",
  });
  assert.throws(
    () => e.duration("NSM_DIAL_TIMEOUT", "1s"),
    (err: ConfigError) => err instanceof ConfigError && /NSM_DIAL_TIMEOUT="fast"/.test(err.message),
  );
  assert.throws(() => e.url("NSM_REGISTRY_URL", ""), /NSM_REGISTRY_URL="http:\/\/x": invalid URL/);
  assert.throws(() => e.int("NSM_MAX", 1), /NSM_MAX="abc": is not an integer/);
  assert.throws(() => e.bool("NSM_FLAG", false), /NSM_FLAG="maybe"/);
  assert.throws(() => e.map("NSM_M"), /NSM_M="novalue": entry "novalue" is not key:value/);
  assert.throws(
    () => envReader({ NSM_D: "x" }).oneOf("NSM_D", ["kernel", "null"], "kernel"),
    /NSM_D="x": must be one of kernel, null/,
  );
});
