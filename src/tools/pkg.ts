/**
 * Where the nsm-ts package lives on disk, the same answer from a dev checkout (`src/tools/pkg.ts`
 * run through tsx) and from an installed package (`dist/src/tools/pkg.js`): files that ship beside
 * the code (`bin/nsm.mjs`, `scripts/ovs.sh`, `package.json`) are found from here, never by
 * counting `../` from a module that sits at a different depth once compiled.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

/** The directory holding nsm-ts's package.json; throws if this module is not inside the package. */
export function packageRoot(): string {
  if (root) return root;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const pj = join(dir, "package.json");
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === "nsm-ts") {
      return (root = dir);
    }
    if (dirname(dir) === dir) throw new Error(`nsm-ts: no package.json named "nsm-ts" above ${start}`);
  }
}

/** A path inside the package: `packagePath("bin", "nsm.mjs")`. */
export function packagePath(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}

/** The package's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(packagePath("package.json"), "utf8")) as { version: string }).version;
}
