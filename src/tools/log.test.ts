import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { readCommon } from "../networkservice/cmdutil.js";
import { ConfigError, envReader } from "./env.js";
import { formatText, logFormat, newLogger } from "./log.js";

const sink = () => {
  const lines: string[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      cb();
    },
  });
  return { w, lines };
};

test("log format: text on a terminal, JSON otherwise, NSM_LOG_FORMAT wins; a bad value names the variable", () => {
  assert.equal(logFormat(undefined, true), "text");
  assert.equal(logFormat(undefined, false), "json");
  assert.equal(logFormat("JSON", true), "json");
  assert.equal(logFormat("text", false), "text");
  assert.throws(() => logFormat("yaml", true), /not json or text/);
  assert.throws(
    () => readCommon(envReader({ NSM_LOG_FORMAT: "yaml" }), "x"),
    (e: unknown) => e instanceof ConfigError && e.variable === "NSM_LOG_FORMAT",
  );
});

test("text lines: time, level name, the connection id first, message, then key=value", () => {
  const line = formatText({
    level: 40,
    time: "2026-12-02T13:04:05.123Z",
    component: "nsc",
    connId: "nsc-1-0",
    msg: "heal: re-request failed, retrying",
    err: "unix:///x.sock request: unavailable",
    attempt: 2,
    ip: ["10.0.0.1/32"],
  });
  assert.equal(
    line,
    '13:04:05.123 WARN  [nsc-1-0] nsc: heal: re-request failed, retrying err="unix:///x.sock request: unavailable" attempt=2 ip=["10.0.0.1/32"]',
  );
});

test("a message with line breaks stays on one line", () => {
  assert.equal(formatText({ level: 50, msg: "a\nb" }), " ERROR a\\nb");
});

test("newLogger writes one text line per event when asked, JSON by default off a terminal", () => {
  const t = sink();
  const log = newLogger({ component: "nsmgr", level: "INFO", format: "text", destination: t.w });
  log.child({ connId: "c-1" }).info({ ns: "icmp" }, "request");
  log.debug("hidden");
  assert.equal(t.lines.length, 1);
  assert.match(t.lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[c-1\] nsmgr: request ns=icmp$/);
  const j = sink();
  newLogger({ component: "nsmgr", level: "INFO", destination: j.w }).info("hello");
  assert.equal((JSON.parse(j.lines[0]!) as { msg: string }).msg, "hello");
});
