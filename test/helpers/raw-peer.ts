/**
 * Test-only native peers for memif (built by `npm run build:native` next to the addon, never
 * loaded by src/): `rawPeer` speaks raw 128-byte control messages (test addon
 * nsm_native_test.node), `hostilePeer` runs the memif_hostile executable as a separate process
 * that completes a handshake and then breaks the ring protocol (native/test/memif_hostile.cc).
 * Set NSM_NATIVE_TEST_DIR to use another build directory (the ASan build).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { NativeError } from "../../src/native.js";

const dir =
  process.env["NSM_NATIVE_TEST_DIR"] ?? join(dirname(fileURLToPath(import.meta.url)), "..", "..", "build", "Release");

/** One step of {@link rawPeer}: send bytes (optionally with an fd), then read replies. */
export interface MemifRawStep {
  readonly send?: Uint8Array;
  /** Pass a fresh fd with the message via SCM_RIGHTS. */
  readonly fd?: "memfd" | "eventfd";
  /** Size of the memfd (default 4096). */
  readonly memfdSize?: number;
  /** Read this many messages (stops early on close or timeout). */
  readonly recv?: number;
  /** Read until the peer closes (or timeout). */
  readonly waitClose?: boolean;
}

interface TestAddon {
  memifRawPeer(o: {
    socket: string;
    role: "client" | "server";
    steps: readonly MemifRawStep[];
    timeoutMs: number;
  }): Promise<{ received: Buffer[]; closed: boolean }>;
}

let addon: TestAddon | undefined;

/** True when the test addon and the hostile peer are built. */
export function testPeersAvailable(): boolean {
  return existsSync(join(dir, "nsm_native_test.node")) && existsSync(join(dir, "memif_hostile"));
}

/** Speaks raw control messages over SOCK_SEQPACKET on a worker thread. */
export async function rawPeer(o: {
  socket: string;
  role: "client" | "server";
  steps: readonly MemifRawStep[];
  timeoutMs: number;
}): Promise<{ received: Buffer[]; closed: boolean }> {
  addon ??= createRequire(import.meta.url)(join(dir, "nsm_native_test.node")) as TestAddon;
  try {
    return await addon.memifRawPeer(o);
  } catch (e) {
    throw NativeError.from(e);
  }
}

/** A running memif_hostile process. */
export interface HostilePeer {
  /** Resolves once the attack is in place (after "ready"), or with the verdict if it came first. */
  readonly ready: Promise<void>;
  /** master: resolves once the socket listens (its file exists earlier, from bind), or at exit. */
  readonly listening: Promise<void>;
  /** What the peer saw: "reason: <our DISCONNECT text>", "closed" or "timeout"; and its exit code. */
  readonly done: Promise<{ verdict: string; code: number | null; stderr: string }>;
  kill(): void;
}

/**
 * Starts the hostile peer as the memif `role` ("slave" attacks our server, "master" our client)
 * on `socket`, trying `attack`.
 */
export function hostilePeer(socket: string, role: "slave" | "master", attack: string, timeoutMs = 5000): HostilePeer {
  const p = spawn(join(dir, "memif_hostile"), [socket, role, attack, String(timeoutMs)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let onReady: () => void = () => {};
  let onListening: () => void = () => {};
  const ready = new Promise<void>((r) => (onReady = r));
  const listening = new Promise<void>((r) => (onListening = r));
  p.stdout.on("data", (b: Buffer) => {
    out += b.toString();
    if (out.includes("listening\n")) onListening();
    if (out.includes("ready\n")) onReady();
  });
  p.stderr.on("data", (b: Buffer) => (err += b.toString()));
  const done = new Promise<{ verdict: string; code: number | null; stderr: string }>((resolve) =>
    p.on("close", (code) => {
      onReady();
      onListening();
      const verdict =
        out
          .split("\n")
          .filter((l) => l && l !== "ready" && l !== "listening")
          .pop() ?? "";
      resolve({ verdict, code, stderr: err });
    }),
  );
  return { ready, listening, done, kill: () => p.kill("SIGKILL") };
}
