import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pollFileText, type FileText } from "./textpoll.js";

const shape = (r: FileText) => ("text" in r ? r.text : `error ${(r.err as NodeJS.ErrnoException).code}`);

test("reports the text at once, then each change of it (same size, rename over, removal) once", (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  const dir = mkdtempSync(join(tmpdir(), "nsm-textpoll-"));
  const file = join(dir, "f.yaml");
  const seen: string[] = [];
  try {
    const p = pollFileText(file, { everyMs: 10 }, (r) => seen.push(shape(r)));
    assert.deepEqual(seen, ["error ENOENT"]);
    t.mock.timers.tick(10);
    assert.deepEqual(seen, ["error ENOENT"], "a missing file is reported once");
    writeFileSync(file, "a: 1\n");
    t.mock.timers.tick(10);
    writeFileSync(file, "a: 2\n"); // same size, likely the same mtime tick
    t.mock.timers.tick(10);
    t.mock.timers.tick(10);
    writeFileSync(join(dir, "tmp"), "b: 3\n");
    renameSync(join(dir, "tmp"), file);
    t.mock.timers.tick(10);
    rmSync(file);
    t.mock.timers.tick(10);
    assert.deepEqual(seen, ["error ENOENT", "a: 1\n", "a: 2\n", "b: 3\n", "error ENOENT"]);
    p.stop();
    writeFileSync(file, "c: 4\n");
    t.mock.timers.tick(50);
    assert.equal(seen.length, 5, "nothing after stop");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an aborted signal stops the polling", (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  const dir = mkdtempSync(join(tmpdir(), "nsm-textpoll-"));
  const file = join(dir, "f");
  const ac = new AbortController();
  const seen: string[] = [];
  try {
    writeFileSync(file, "x");
    pollFileText(file, { everyMs: 10, signal: ac.signal }, (r) => seen.push(shape(r)));
    ac.abort();
    writeFileSync(file, "y");
    t.mock.timers.tick(30);
    assert.deepEqual(seen, ["x"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
