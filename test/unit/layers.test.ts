// The shape of the tree, checked: imports only run down the layers of ARCHITECTURE.md (README
// "Layout"), no forwarder backend imports another one, no handwritten TypeScript file grows past
// MAX_LINES, and comments and docs cite only what a reader of this repository can open.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(new URL("../..", import.meta.url).pathname);
const MAX_LINES = 400;

/**
 * The layers, bottom (0) to top. An area is the first folder under src/ (`src/native.ts` is
 * "native", a file at the top of src/ is named by its base name). A module may import its own
 * area and areas of a lower rank, never a higher one and never a sibling of the same rank; test
 * files (`*.test.ts`) may reach up (an integration test of a low layer may use a higher one).
 */
const RANK: Record<string, number> = {
  native: 0, // the only door to the addon
  api: 1, // generated protos + handwritten helpers
  tools: 2, // urls, env, log, tokens, errors
  datapath: 3, // the embeddable netlink/memif/wireguard library
  ovs: 3, // OVSDB and OpenFlow clients
  vpp: 3,
  k8s: 3, // Kubernetes clients and controllers (client-node), below the NSM chains
  core: 4, // the chain framework
  registry: 5,
  forwarder: 5, // the DatapathBackend interface and its backends
  networkservice: 6,
  sandbox: 7,
  mesh: 7,
  observe: 8,
  cmd: 9,
  index: 9,
};
/** Tighter than the ranks: what some areas may import at all (besides themselves). */
const ONLY: Record<string, readonly string[]> = {
  core: ["api", "tools"],
  // libraries that know nothing of NSM
  datapath: ["native", "tools"],
  ovs: ["native", "tools"],
  k8s: ["api", "tools"],
  vpp: ["native", "tools"],
};

/**
 * Handwritten .ts files allowed over MAX_LINES, each with the reason. Keep it short: split the
 * file instead of adding to it.
 */
const TOO_LONG_ALLOWED: Record<string, string> = {};

function walk(dir: string, keep: (p: string) => boolean, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, keep, out);
    else if (keep(p)) out.push(p);
  }
  return out;
}
const rel = (p: string) => relative(root, p);
const isGenerated = (p: string) => rel(p).startsWith("src/api/gen/") || rel(p).startsWith("src/vpp/gen/");

/** Relative import specifiers of a module: static imports, re-exports and dynamic imports. */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/gms,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]!);
  return out.filter((s) => s.startsWith("."));
}

function areaOf(srcRel: string): string {
  const [first, second] = srcRel.split("/");
  return second === undefined ? first!.replace(/\.[jt]s$/, "") : first!;
}

/** "kernel" for src/forwarder/backends/kernel/x.ts, else undefined. */
function backendOf(srcRel: string): string | undefined {
  const m = /^forwarder\/backends\/([^/]+)\//.exec(srcRel);
  return m?.[1];
}

test("imports run down the layers; no backend imports another", () => {
  const src = join(root, "src");
  const problems: string[] = [];
  for (const file of walk(src, (p) => p.endsWith(".ts") && !isGenerated(p))) {
    const from = relative(src, file);
    const area = areaOf(from);
    const rank = RANK[area];
    if (rank === undefined) {
      problems.push(`${rel(file)}: area "${area}" has no RANK (test/unit/layers.test.ts): place it in a layer`);
      continue;
    }
    const isTest = from.endsWith(".test.ts");
    for (const spec of importsOf(readFileSync(file, "utf8"))) {
      const target = relative(src, resolve(dirname(file), spec));
      if (target.startsWith("..")) {
        problems.push(`${rel(file)} imports ${spec}, outside src/`);
        continue;
      }
      const to = areaOf(target);
      const only = ONLY[area];
      const toRank = RANK[to] ?? Infinity;
      if (to !== area && !isTest) {
        if (only && !only.includes(to))
          problems.push(`${rel(file)} imports ${spec}: ${area} may import only ${only.join(", ")}`);
        else if (toRank > rank) problems.push(`${rel(file)} imports ${spec}: ${to} is above ${area}`);
        else if (toRank === rank) problems.push(`${rel(file)} imports ${spec}: ${to} and ${area} are siblings`);
      }
      const [bFrom, bTo] = [backendOf(from), backendOf(target)];
      if (bFrom && bTo && bTo !== "shared" && bTo !== bFrom)
        problems.push(`${rel(file)} imports backend "${bTo}" (${spec}): share code through forwarder/backends/shared`);
    }
  }
  assert.deepEqual(problems, []);
});

test(`no handwritten .ts file over ${MAX_LINES} lines`, () => {
  const files = ["src", "test", "bench", "scripts"].flatMap((d) =>
    walk(join(root, d), (p) => /\.(ts|mts)$/.test(p) && !isGenerated(p)),
  );
  const sizes = new Map(files.map((f) => [rel(f), readFileSync(f, "utf8").split("\n").length - 1]));
  const long = [...sizes]
    .filter(([f, n]) => n > MAX_LINES && !(f in TOO_LONG_ALLOWED))
    .map(([f, n]) => `${f}: ${n} lines`);
  assert.deepEqual(long, [], "split these files (or, with a reason, list them in TOO_LONG_ALLOWED)");
  const stale = Object.keys(TOO_LONG_ALLOWED).filter((f) => (sizes.get(f) ?? 0) <= MAX_LINES);
  assert.deepEqual(stale, [], "TOO_LONG_ALLOWED names files that are gone or short now: drop them from the list");
});

test("comments and docs cite only what is in this repository or upstream by path", () => {
  const SECTION = "\u00a7"; // a section sign: "spec x.md <section>" pointed at notes outside the repo
  const notes = /\b(control-plane|components|environment)\.md\b|\bspec\/[\w-]+\.md\b|\.\.\/shared\/spec/;
  const files = [
    ...["src", "native", "docs", "test", "bench", "scripts"].flatMap((d) =>
      walk(join(root, d), (p) => /\.(ts|mts|mjs|js|cc|h|md|sh|txt)$/.test(p) && !isGenerated(p)),
    ),
    join(root, "README.md"),
  ];
  const found: string[] = [];
  for (const f of files) {
    readFileSync(f, "utf8")
      .split("\n")
      .forEach((line, i) => {
        if (line.includes(SECTION) || notes.test(line)) found.push(`${rel(f)}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(found, [], "cite docs/ or upstream by module path and file instead");
});
