/**
 * A small mutation fuzzer for the TypeScript decoders (libFuzzer covers the native ones): seeded
 * xorshift PRNG, byte-level mutations (flip, set, insert, delete, truncate, splice, and 8/16/32-bit
 * length fields set to edge values) over a seed corpus, for a bounded time. A target returns, or
 * throws a clean decode error (Error, RangeError, SyntaxError): anything else (TypeError from an
 * unchecked field, a non-Error throw, an invariant the target asserts, a single input over 1 s)
 * is a finding, written to .tmp/fuzz/<name>-<n>.bin and reported. Run: `npm run fuzz -- NAME`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface FuzzTarget {
  readonly name: string;
  readonly seeds: readonly Buffer[];
  /** Runs one input; throws a finding by throwing anything that is not a clean decode error. */
  run(input: Buffer): void;
}

/** A finding: thrown on purpose by a target when an invariant breaks. */
export class FuzzFinding extends Error {
  override readonly name = "FuzzFinding";
}

const clean = (e: unknown): boolean =>
  e instanceof Error &&
  !(e instanceof FuzzFinding) &&
  (e.constructor === Error || e.constructor === RangeError || e.constructor === SyntaxError || e.name === "OvsdbError");

class Rng {
  constructor(private s: number) {
    if (!this.s) this.s = 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
}

const EDGES = [
  0, 1, 2, 3, 4, 7, 8, 15, 16, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0xffffffff,
];

function mutate(r: Rng, src: Buffer, corpus: readonly Buffer[]): Buffer {
  let b = Buffer.from(src);
  const ops = 1 + r.below(4);
  for (let i = 0; i < ops; i++) {
    const at = r.below(Math.max(1, b.length));
    switch (r.below(8)) {
      case 0:
        if (b.length) b[at] = b[at]! ^ (1 << r.below(8));
        break;
      case 1:
        if (b.length) b[at] = r.below(256);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), Buffer.from([r.below(256)]), b.subarray(at)]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + r.below(8))]);
        break;
      case 4:
        b = b.subarray(0, r.below(b.length + 1));
        break;
      case 5: {
        const o = corpus[r.below(corpus.length)]!;
        const from = r.below(o.length + 1);
        b = Buffer.concat([b.subarray(0, at), o.subarray(from, from + 1 + r.below(64))]);
        break;
      }
      case 6:
        if (at + 2 <= b.length) b.writeUInt16BE(EDGES[r.below(EDGES.length)]! & 0xffff, at);
        break;
      default:
        if (at + 4 <= b.length) b.writeUInt32BE(EDGES[r.below(EDGES.length)]! >>> 0, at);
        break;
    }
  }
  return b;
}

/** Runs `t` for `seconds`; returns the number of inputs run and the findings (at most 10 kept). */
export function fuzz(t: FuzzTarget, seconds: number, seed = Date.now() >>> 0): { runs: number; findings: string[] } {
  const r = new Rng(seed);
  const corpus = [...t.seeds];
  const findings: string[] = [];
  const end = Date.now() + seconds * 1000;
  let runs = 0;
  const one = (input: Buffer): void => {
    const start = Date.now();
    try {
      t.run(input);
    } catch (e) {
      if (!clean(e)) record(input, e);
      return;
    }
    if (Date.now() - start > 1000) record(input, new FuzzFinding(`slow input: ${Date.now() - start} ms`));
  };
  const record = (input: Buffer, e: unknown): void => {
    if (findings.length >= 10) return;
    const dir = join(process.cwd(), ".tmp", "fuzz");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${t.name}-${findings.length}.bin`);
    writeFileSync(file, input);
    findings.push(`${file}: ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
  };
  for (const s of t.seeds) one(s);
  while (Date.now() < end) {
    for (let i = 0; i < 256; i++, runs++) {
      const input = mutate(r, corpus[r.below(corpus.length)]!, corpus);
      one(input);
      // Keep some mutants as new seeds: cheap breadth without coverage feedback.
      if (corpus.length < 4096 && r.below(64) === 0) corpus.push(input);
    }
  }
  return { runs, findings };
}
