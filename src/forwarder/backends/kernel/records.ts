/**
 * The kernel backend's per-connection records in its state dir: an append-only journal
 * `records.log`, one JSON line per change (`{"put":record}` / `{"del":id}`), appended with
 * O_APPEND and no fsync — a write costs ~1 µs instead of ~0.1 ms to create a file per
 * connection. Records only say where to look after a crash; the `nsm:<id>` aliases on the
 * interfaces are the ground truth, so a lost tail costs at most a leftover a later run's
 * stale-name retry removes. A torn last line is skipped.
 *
 * Records with a wireguard-go process are also mirrored as `<sha256(id)[:32]>.json` (the layout
 * before the journal, still read at start), so that `nsm down` finds the pid a killed forwarder
 * left (src/mesh reads those files).
 *
 *   const { store, loaded } = RecordStore.open<PlumbedRecord>("/run/nsm-ts/forwarder-1", log);
 *   store.put(rec);      // before making its interfaces
 *   store.del(rec.id);   // once they are gone
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../../tools/log.js";

export const JOURNAL = "records.log";
/** The per-connection file name of the pre-journal layout (kept for wireguard records). */
export const recordFileOf = (dir: string, id: string): string =>
  join(dir, `${createHash("sha256").update(id).digest("hex").slice(0, 32)}.json`);

interface Rec {
  id: string;
  wg?: unknown;
}

export class RecordStore<R extends Rec> {
  private fd = -1;
  private lines = 0;
  private readonly current = new Map<string, R>();

  private constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Loads the records of a previous run (journal and per-connection files), compacts, opens for appending. */
  static open<R extends Rec>(dir: string, log: Logger): { store: RecordStore<R>; loaded: Map<string, R> } {
    const s = new RecordStore<R>(dir, log);
    mkdirSync(dir, { recursive: true });
    const files = readdirSync(dir).filter((f) => f.endsWith(".json"));
    for (const f of files) {
      try {
        const r = JSON.parse(readFileSync(join(dir, f), "utf8")) as R;
        if (r.id) s.current.set(r.id, r);
      } catch (e) {
        log.warn({ file: f, err: (e as Error).message }, "kernel datapath: unreadable state record ignored");
      }
    }
    let text = "";
    try {
      text = readFileSync(join(dir, JOURNAL), "utf8");
    } catch {
      /* first run */
    }
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        const e = JSON.parse(line) as { put?: R; del?: string };
        if (e.put?.id) s.current.set(e.put.id, e.put);
        else if (typeof e.del === "string") s.current.delete(e.del);
      } catch {
        log.warn({ file: JOURNAL }, "kernel datapath: a torn state record line ignored");
      }
    }
    s.compact();
    // per-connection files: only wireguard records keep one
    for (const f of files) {
      const keep = [...s.current.values()].some((r) => r.wg && recordFileOf(dir, r.id) === join(dir, f));
      if (!keep) {
        try {
          unlinkSync(join(dir, f));
        } catch {
          /* gone */
        }
      }
    }
    return { store: s, loaded: new Map(s.current) };
  }

  /** Records `r` (again, after a change). */
  put(r: R): void {
    this.current.set(r.id, r);
    this.append({ put: r });
    if (r.wg) {
      try {
        writeFileSync(recordFileOf(this.dir, r.id), JSON.stringify(r));
      } catch (e) {
        this.log.warn({ connId: r.id, err: (e as Error).message }, "kernel datapath: cannot write the state record");
      }
    }
  }

  /** Forgets connection `id` (with `only`: unless its record was replaced by another since). */
  del(id: string, only?: R): void {
    const r = this.current.get(id);
    if (!r || (only && r !== only)) return;
    this.current.delete(id);
    this.append({ del: id });
    if (r.wg) {
      try {
        unlinkSync(recordFileOf(this.dir, id));
      } catch {
        /* gone */
      }
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private append(e: { put: R } | { del: string }): void {
    try {
      if (this.fd < 0) this.fd = openSync(join(this.dir, JOURNAL), "a");
      writeSync(this.fd, `${JSON.stringify(e)}\n`);
      if (++this.lines > 1024 && this.lines > 4 * this.current.size) this.compact();
    } catch (err) {
      this.log.warn({ err: (err as Error).message, dir: this.dir }, "kernel datapath: cannot write the state journal");
    }
  }

  /** Rewrites the journal with the current records only (write + rename: never a half journal). */
  private compact(): void {
    try {
      const tmp = join(this.dir, `${JOURNAL}.tmp`);
      writeFileSync(tmp, [...this.current.values()].map((r) => `${JSON.stringify({ put: r })}\n`).join(""));
      renameSync(tmp, join(this.dir, JOURNAL));
      this.close();
      this.lines = this.current.size;
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message, dir: this.dir },
        "kernel datapath: cannot compact the state journal",
      );
    }
  }
}
