// Fails when src/api/gen no longer matches what `buf generate` makes from proto/ + buf.gen.yaml.
// Generates into a temp dir with a copy of buf.gen.yaml (only `out` changed); src/api/gen is
// never touched. Offline: buf resolves google/protobuf/* itself, the plugin is node_modules'.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, relative } from "node:path";

const root = new URL("../../", import.meta.url).pathname;
const gen = join(root, "src/api/gen");

function files(dir: string, out: string[] = [], base = dir): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, out, base);
    else out.push(relative(base, p));
  }
  return out.sort();
}

test("src/api/gen matches buf generate output", { timeout: 60_000 }, (t) => {
  const tmp = mkdtempSync(join(tmpdir(), "nsm-api-drift-"));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const template = readFileSync(join(root, "buf.gen.yaml"), "utf8");
  assert.match(template, /out: src\/api\/gen\n/);
  const out = join(tmp, "gen");
  writeFileSync(join(tmp, "buf.gen.yaml"), template.replace(/out: src\/api\/gen\n/, `out: ${out}\n`));
  const bin = join(root, "node_modules/.bin");
  execFileSync(join(bin, "buf"), ["generate", "--template", join(tmp, "buf.gen.yaml")], {
    cwd: root,
    env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ""}` },
    stdio: "pipe",
  });
  const want = files(out);
  assert.ok(want.length >= 5, `buf generated only ${want.join(", ")}`);
  assert.deepEqual(files(gen), want, "file list of src/api/gen differs: run `npm run generate`");
  for (const f of want) {
    assert.ok(
      readFileSync(join(gen, f)).equals(readFileSync(join(out, f))),
      `src/api/gen/${f} drifted: run \`npm run generate\``,
    );
  }
});
