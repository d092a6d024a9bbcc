/**
 * Custom Rego policies (upstream's NSM_*_POLICIES, `sdk/pkg/tools/opa`): each file is compiled to
 * WebAssembly by the `opa` CLI (`opa build -t wasm -e nsm/valid`) and evaluated in-process with
 * @open-policy-agent/opa-wasm; a policy allows when `data.nsm.valid` is true. Entries under
 * `etc/nsm/opa/` name upstream's embedded defaults, which we evaluate in TypeScript (the authorize
 * elements), so they load nothing here. Anything that cannot be loaded (no opa binary, no such
 * file, a compile error) throws naming the variable and the file: the command refuses to start.
 *
 *   const custom = await loadPolicies("NSM_REGISTRY_SERVER_POLICIES", ["/etc/nsm/policies/.*.rego"]);
 *   if (!(await custom[0].evaluate(input))) ...
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { loadPolicy } from "@open-policy-agent/opa-wasm";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { ConfigError } from "../env.js";

export interface RegoPolicy {
  /** the file name without `.rego` (what a refusal names) */
  readonly name: string;
  readonly file: string;
  evaluate(input: unknown): Promise<boolean>;
}

/** the prefix of upstream's embedded default policies */
export const EMBEDDED_PREFIX = "etc/nsm/opa/";

const KNOWN_OPA = ["/usr/local/lib/nsm-test/opa-v0.70.0"];

/** The opa CLI: OPA_BINARY, else `opa` on PATH, else the copy scripts/setup.sh installs for tests. */
export function findOpa(env: Readonly<Record<string, string | undefined>> = process.env): string | undefined {
  if (env.OPA_BINARY) return env.OPA_BINARY;
  for (const d of (env.PATH ?? "").split(":")) if (d && existsSync(join(d, "opa"))) return join(d, "opa");
  return KNOWN_OPA.find((p) => existsSync(p));
}

/** Files a mask names: a directory (literal) and a file-name regular expression, as upstream's masks. */
function expand(mask: string): string[] {
  if (existsSync(mask) && mask.endsWith(".rego")) return [mask];
  const dir = dirname(mask);
  const re = new RegExp(`^${basename(mask)}$`);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => re.test(f) && f.endsWith(".rego"))
    .sort()
    .map((f) => join(dir, f));
}

// builtins opa leaves to the host in wasm (the SDK-dependent ones upstream's policies use)
const builtins: Record<string, (...a: unknown[]) => unknown> = {
  "io.jwt.decode": (t) => {
    const s = String(t);
    return [decodeProtectedHeader(s), decodeJwt(s), s.split(".")[2] ?? ""];
  },
  "time.now_ns": () => Date.now() * 1e6,
};

async function compile(opa: string, file: string): Promise<RegoPolicy> {
  const dir = mkdtempSync(join(tmpdir(), "nsm-opa-"));
  try {
    execFileSync(opa, ["build", "-t", "wasm", "-e", "nsm/valid", "-o", join(dir, "bundle.tar.gz"), file], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    execFileSync("tar", ["-xzf", join(dir, "bundle.tar.gz"), "-C", dir, "/policy.wasm"], { stdio: "ignore" });
    const policy = await loadPolicy(readFileSync(join(dir, "policy.wasm")), undefined, builtins);
    return {
      name: basename(file, ".rego"),
      file,
      async evaluate(input) {
        const r = policy.evaluate(input, "nsm/valid") as { result?: unknown }[];
        return r.length > 0 && r[0]!.result === true;
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Loads the custom policies of `variable` (masks); upstream's embedded defaults are skipped. */
export async function loadPolicies(
  variable: string,
  masks: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<RegoPolicy[]> {
  const custom = masks.filter((m) => m && !m.startsWith(EMBEDDED_PREFIX));
  if (!custom.length) return [];
  const opa = findOpa(env);
  if (!opa)
    throw new ConfigError(
      variable,
      custom.join(","),
      "custom Rego policies need the opa CLI (OPA_BINARY or opa on PATH)",
    );
  const out: RegoPolicy[] = [];
  for (const m of custom) {
    const files = expand(m);
    if (!files.length) throw new ConfigError(variable, m, "names no .rego file");
    for (const f of files) {
      try {
        out.push(await compile(opa, f));
      } catch (e) {
        const err = e as { stderr?: Buffer; stdout?: Buffer; message: string };
        const said = `${err.stderr?.toString() ?? ""}${err.stdout?.toString() ?? ""}`.trim().replace(/\s+/g, " ");
        throw new ConfigError(variable, f, `cannot load the policy: ${said || err.message}`);
      }
    }
  }
  return out;
}
