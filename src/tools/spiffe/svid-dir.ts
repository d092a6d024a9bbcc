/**
 * SVID files for a local mesh without SPIRE (`nsm up` with NSM_UP_TLS=true): a trust domain CA and
 * one short-lived SVID per identity under a directory, as the processes read them
 * (NSM_SVID_CERT/KEY/BUNDLE, files.ts reloads them on change). `rotateSvidDir` re-issues every
 * SVID (the supervisor calls it at half their lifetime). The CA key stays in the directory (0600):
 * it is a development trust domain, not a production CA.
 *
 *   const env = createSvidDir("/run/nsm-ts/nsm-mesh/svid", "nsm.local", { mesh: "spiffe://nsm.local/mesh" }, 600_000);
 *   spawn(..., { env: { ...process.env, ...env.mesh } });
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newTrustDomain, type TrustDomainCa } from "./issuer.js";
import { pemToDer } from "./svid.js";

interface Meta {
  trustDomain: string;
  ttlMs: number;
  ids: Record<string, string>;
}

export type SvidEnv = { NSM_SVID_CERT: string; NSM_SVID_KEY: string; NSM_SVID_BUNDLE: string };

function write(path: string, text: string, mode = 0o644): void {
  writeFileSync(`${path}.tmp`, text, { mode });
  renameSync(`${path}.tmp`, path);
}

function issueAll(dir: string, ca: TrustDomainCa, m: Meta): Record<string, SvidEnv> {
  const out: Record<string, SvidEnv> = {};
  for (const [name, id] of Object.entries(m.ids)) {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    const s = ca.issue(id, m.ttlMs);
    const env = {
      NSM_SVID_CERT: join(d, "svid.pem"),
      NSM_SVID_KEY: join(d, "svid_key.pem"),
      NSM_SVID_BUNDLE: join(d, "bundle.pem"),
    };
    // key first: a reader that sees the new certificate finds its key
    write(env.NSM_SVID_KEY, s.keyPem, 0o600);
    write(env.NSM_SVID_BUNDLE, ca.bundlePem);
    write(env.NSM_SVID_CERT, s.certPem);
    out[name] = env;
  }
  return out;
}

/** A new trust domain and SVIDs for `ids` (name → SPIFFE ID) valid `ttlMs`; returns each name's env. */
export function createSvidDir(
  dir: string,
  trustDomain: string,
  ids: Record<string, string>,
  ttlMs: number,
): Record<string, SvidEnv> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = newTrustDomain(trustDomain);
  write(join(dir, "ca.pem"), ca.bundlePem);
  write(join(dir, "ca_key.pem"), ca.keyPem, 0o600);
  chmodSync(join(dir, "ca_key.pem"), 0o600);
  const m: Meta = { trustDomain, ttlMs, ids };
  write(join(dir, "meta.json"), JSON.stringify(m));
  return issueAll(dir, ca, m);
}

/** Re-issues every SVID of `dir`; returns their lifetime (ms) so the caller knows when to come back. */
export function rotateSvidDir(dir: string): number {
  const m = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as Meta;
  const certDer = pemToDer(readFileSync(join(dir, "ca.pem"), "utf8"))[0]!;
  const ca = newTrustDomain(m.trustDomain, 0, { certDer, keyPem: readFileSync(join(dir, "ca_key.pem"), "utf8") });
  issueAll(dir, ca, m);
  return m.ttlMs;
}
