// Arguments are range-checked before they are narrowed: a value that would wrap into a valid
// small number is refused, naming the option. No root needed (nothing reaches the kernel).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fdClose, nativeAvailable, netnsOpen, nlExec } from "../../src/native.js";
import { memifNative } from "../../src/native/memif.js";

const skip = !nativeAvailable() ? "addon not built (npm run build:native)" : false;

test("memifOpen refuses options out of range instead of wrapping them", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "native-args-"));
  try {
    const socket = join(dir, "m.sock");
    const cases: [string, Record<string, unknown>][] = [
      ["id", { id: 2 ** 32 + 1 }],
      ["id", { id: -1 }],
      ["log2Ring", { log2Ring: 256 + 10 }],
      ["bufferSize", { bufferSize: 2 ** 32 + 2048 }],
      ["mode", { mode: 1.5 }],
      ["reconnectMs", { reconnectMs: Number.NaN }],
    ];
    for (const [name, extra] of cases) {
      let h: number | undefined;
      assert.throws(
        () => (h = memifNative.open({ role: "master", socket, ...extra } as never, () => {})),
        (e: Error) => e.message.includes(name),
        `${name} ${JSON.stringify(extra)}`,
      );
      if (h !== undefined) memifNative.close(h);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("nlExec refuses a fixup offset that a u32 would wrap into the message", { skip }, async () => {
  const ns = netnsOpen("/proc/self/ns/net");
  try {
    const msg = Buffer.alloc(32); // RTM_GETLINK, NLM_F_REQUEST: harmless even if it were sent
    msg.writeUInt32LE(32, 0);
    msg.writeUInt16LE(18, 4);
    msg.writeUInt16LE(1, 6);
    for (const offset of [2 ** 32 + 4, -4]) {
      await assert.rejects(
        nlExec(ns, msg, [{ kind: "ifindex", msg: 0, offset, name: "lo" }]),
        (e: Error & { cause?: Error }) => /0\.\.2\^32-1/.test(`${e.message} ${e.cause?.message ?? ""}`),
        `offset ${offset}`,
      );
    }
  } finally {
    fdClose(ns);
  }
});
