/** What the e2e bench cases share: `ip` calls, unique names, throwaway namespaces. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

export const exec = promisify(execFile);
export const ipc = (...a: string[]) => exec("ip", a);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
export const uniq = () => `b-${process.pid}-${seq++}`;

export async function withNetns<T>(names: string[], fn: () => Promise<T>): Promise<T> {
  for (const n of names) await ipc("netns", "add", n);
  try {
    return await fn();
  } finally {
    for (const n of names) await ipc("netns", "del", n).catch(() => undefined);
  }
}
