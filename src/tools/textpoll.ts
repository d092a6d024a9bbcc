/**
 * Follows a small config file's text by reading it every `everyMs` and calling `onChange` when
 * the text differs from the last one seen (a missing or unreadable file is `{ err }`, reported
 * once until it changes). It compares contents, not stat fields: `fs.watchFile` misses a rewrite
 * of the same size within one timestamp tick, and a rename over the file counts here as well.
 * The first read happens in the call, synchronously, so the caller has the text at once.
 *
 *   const p = pollFileText(path, { everyMs: 250 }, (r) => ("text" in r ? load(r.text) : warn(r.err)));
 *   p.stop();
 */
import { readFileSync } from "node:fs";

export type FileText = { text: string } | { err: Error };

export function pollFileText(
  path: string,
  o: { everyMs: number; persistent?: boolean; signal?: AbortSignal },
  onChange: (r: FileText) => void,
): { stop(): void; readNow(): void } {
  let last: string | undefined;
  const readNow = () => {
    let r: FileText;
    let key: string;
    try {
      r = { text: readFileSync(path, "utf8") };
      key = `t:${r.text}`;
    } catch (e) {
      r = { err: e as Error };
      key = `e:${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
    if (key === last) return;
    last = key;
    onChange(r);
  };
  readNow();
  const timer = setInterval(readNow, o.everyMs);
  if (!o.persistent) timer.unref();
  const stop = () => clearInterval(timer);
  o.signal?.addEventListener("abort", stop, { once: true });
  return { stop, readNow };
}
