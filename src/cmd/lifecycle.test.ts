import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { silentLogger } from "../tools/log.js";
import { lifecycle } from "./lifecycle.js";

const setup = () => {
  const signals = new EventEmitter();
  const exits: number[] = [];
  const lc = lifecycle({ log: silentLogger, graceMs: 4000, signals, exit: (c) => exits.push(c) });
  return { signals, exits, lc };
};

test("lifecycle: a close that hangs is cut at the grace period with exit 1", async (t) => {
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  const { signals, exits, lc } = setup();
  t.after(() => lc.dispose());
  const done = lc.shutdown(() => new Promise(() => {})); // never settles
  signals.emit("SIGTERM");
  await Promise.resolve();
  assert.equal(lc.signal.aborted, true);
  mock.timers.tick(3999);
  assert.deepEqual(exits, []);
  mock.timers.tick(1);
  assert.deepEqual(exits, [1]);
  void done;
});

test("lifecycle: a second signal exits at once; a clean close exits 0 shortly after", async (t) => {
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  const a = setup();
  t.after(() => a.lc.dispose());
  void a.lc.shutdown(() => new Promise(() => {}));
  a.signals.emit("SIGTERM");
  a.signals.emit("SIGINT");
  assert.deepEqual(a.exits, [1]);

  const b = setup();
  t.after(() => b.lc.dispose());
  const code = b.lc.shutdown(async () => {});
  b.signals.emit("SIGTERM");
  assert.equal(await code, 0);
  mock.timers.tick(250);
  assert.deepEqual(b.exits, [0], "lingering handles do not keep the process");
});

test("lifecycle: a signal during startup undoes what the startup produced", async (t) => {
  const { signals, lc } = setup();
  t.after(() => lc.dispose());
  let finish!: (v: string) => void;
  const closed: string[] = [];
  const started = lc.start(new Promise<string>((r) => (finish = r)), async (v) => void closed.push(v));
  signals.emit("SIGTERM");
  finish("server");
  assert.equal(await started, undefined);
  assert.deepEqual(closed, ["server"]);
});

test("lifecycle: stop() ends the component as a signal would (idle timeout), exit 0", async (t) => {
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  const { exits, lc } = setup();
  t.after(() => lc.dispose());
  const code = lc.shutdown(async () => {});
  lc.stop("idle timeout");
  lc.stop("again"); // no effect
  assert.equal(await lc.stopped, "idle timeout");
  assert.ok(lc.signal.aborted);
  assert.equal(await code, 0);
  mock.timers.tick(250);
  assert.deepEqual(exits, [0]);
});
