/**
 * The package as a user gets it: `npm pack` (prepack compiles dist/), then `npm install <tarball>`
 * into an empty directory outside the checkout, then the installed `nsm` bin and the exports,
 * with the prebuilt addon loaded from the package. No root needed. Dependencies come from the
 * npm cache (the registry only on a cache miss).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { cleanEnv, pidsWith, until } from "../helpers/procs.js";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;
const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

/**
 * Whether dist/ was compiled from the sources as they are now (every source older than its .js,
 * no .js without a source), so the test may pack it as is instead of recompiling (prepack): the
 * compile is half a minute on a busy machine and `npm run setup` has just done it.
 */
function distFresh(): boolean {
  const src = join(root, "src"),
    dist = join(root, "dist", "src");
  if (!existsSync(dist)) return false;
  for (const f of walk(src)) {
    if (!f.endsWith(".ts") || f.endsWith(".test.ts") || f.includes("/testing/")) continue;
    const js = join(dist, f.slice(src.length).replace(/\.ts$/, ".js"));
    if (!existsSync(js) || statSync(js).mtimeMs < statSync(f).mtimeMs) return false;
  }
  return walk(dist).every(
    (f) => !f.endsWith(".js") || existsSync(join(src, f.slice(dist.length).replace(/\.js$/, ".ts"))),
  );
}

test(
  "npm pack → npm install in an empty dir: nsm bin, exports with .d.ts, the addon",
  { timeout: 120_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "nsm-pack-"));
    const env = cleanEnv();
    t.after(() => {
      for (const pid of pidsWith(dir)) process.kill(pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    });
    const t0 = Date.now();

    const fresh = distFresh(); // else prepack compiles dist/ first
    const packArgs = ["pack", "--json", "--pack-destination", dir, ...(fresh ? ["--ignore-scripts"] : [])];
    const packed = await run("npm", packArgs, {
      cwd: root,
      env,
      maxBuffer: 16 << 20,
      timeout: 90_000,
    });
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as {
      filename: string;
      files: { path: string }[];
    }[];
    assert.ok(info);
    const files = info.files.map((f) => f.path);
    for (const f of ["bin/nsm.mjs", "build/Release/nsm_native.node", "dist/src/index.js", "dist/src/index.d.ts"]) {
      assert.ok(files.includes(f), `${f} is not in the tarball`);
    }
    assert.ok(files.includes("dist/src/datapath/index.d.ts"));
    const stray = files.filter((f) => /(^src\/|^test\/|\.test\.|\/testing\/|\.map$)/.test(f));
    assert.deepEqual(stray, [], "sources, tests or source maps in the tarball");
    const tPack = Date.now() - t0;

    const app = join(dir, "app");
    await run("mkdir", [app]);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", join(dir, info.filename)], {
      cwd: app,
      env,
      timeout: 60_000,
    });
    assert.ok(!existsSync(join(app, "node_modules", "tsx")), "tsx is installed: it should be a dev dependency");
    const tInstall = Date.now() - t0 - tPack;

    const help = await run("npx", ["--no-install", "nsm", "--help"], { cwd: app, env, timeout: 30_000 });
    assert.match(help.stdout, new RegExp(`^nsm ${version.replaceAll(".", "\\.")} `));
    assert.match(help.stdout, /\n {2}nsmgr {2,}network service manager/);
    const bare = await run("npx", ["--no-install", "nsm"], { cwd: app, env, timeout: 30_000 }).then(
      () => assert.fail("nsm without a command exited 0"),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /usage: nsm <command>/);

    writeFileSync(
      join(app, "probe.mjs"),
      `import { Netns, DatapathError } from "nsm-ts/datapath";
import * as nsm from "nsm-ts";
import { NetworkServiceRequestSchema } from "nsm-ts/api";
import { chain } from "nsm-ts/core";
const links = await Netns.current().links(); // through the addon shipped in the package
console.log(JSON.stringify({
  netns: typeof Netns, datapathError: typeof DatapathError, chain: typeof chain,
  createNsmgr: typeof nsm.createNsmgr, sameNetns: nsm.datapath.Netns === Netns,
  api: NetworkServiceRequestSchema.typeName, lo: links.some((l) => l.attrs.name === "lo"),
}));
`,
    );
    const probe = await run(process.execPath, ["probe.mjs"], { cwd: app, env, timeout: 30_000 });
    assert.deepEqual(JSON.parse(probe.stdout), {
      netns: "function",
      datapathError: "function",
      chain: "function",
      createNsmgr: "function",
      sameNetns: true,
      api: "networkservice.NetworkServiceRequest",
      lo: true,
    });

    // `npx nsm <component> &` then `kill $!`: npm signals only its sh, the component must stop anyway
    const sock = join(dir, "reg.sock");
    const npx = spawn("npx", ["--no-install", "nsm", "registry"], {
      cwd: app,
      env: { ...env, NSM_LISTEN_ON: `unix://${sock}`, NSM_LOG_LEVEL: "WARN" },
      stdio: "ignore",
    });
    const component = join(app, "node_modules", ".bin", "nsm");
    await until("the registry socket", 20_000, () => existsSync(sock));
    assert.equal(pidsWith(component).length, 1, "one nsm process under npx");
    const tKill = Date.now();
    npx.kill("SIGTERM");
    await until("the registry to exit after npx got SIGTERM", 5_000, () => pidsWith(component).length === 0);
    const killMs = Date.now() - tKill;
    assert.ok(!existsSync(sock), "the registry did not remove its socket (not a clean SIGTERM shutdown)");

    t.diagnostic(
      `pack ${tPack} ms (${fresh ? "dist/ fresh" : "compiled"}), install ${tInstall} ms, total ${Date.now() - t0} ms, kill→exit ${killMs} ms`,
    );
  },
);
