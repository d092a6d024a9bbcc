// What the memif e2e tests share (test/e2e/memif*.test.ts): skip reasons, a socket sandbox, polling.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nativeAvailable } from "../../src/native.js";
import { MemifPort, type MemifOptions } from "../../src/datapath/memif.js";
import { testPeersAvailable } from "./raw-peer.js";

export const root = process.getuid?.() === 0;
export const skip = !nativeAvailable() ? "addon not built (npm run build:native)" : false;
export const skipRaw = skip || (!testPeersAvailable() && "test peers not built (npm run build:native with cmake-js)");
export const skipRoot = skip || (!root && "needs root (netns, AF_PACKET, tap)");

let n = 0;
export const uniq = (): string => `t-${process.pid}-${n++}`;

/** A temp dir for sockets, removed after the test; ports opened through it are closed first. */
export function sandbox(t: { after(f: () => void): void }): {
  sock(name?: string): string;
  open(o: MemifOptions): MemifPort;
} {
  const dir = mkdtempSync(join(tmpdir(), "memif-"));
  const ports: MemifPort[] = [];
  t.after(() => {
    for (const p of ports.reverse()) p.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    sock: (name = "memif.sock") => join(dir, name),
    open(o) {
      const p = MemifPort.open(o);
      ports.push(p);
      return p;
    },
  };
}

export async function until(pred: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

export const fdCount = (): number => readdirSync("/proc/self/fd").length;
export const memifMaps = (): number =>
  readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((l) => l.includes("memif")).length;
