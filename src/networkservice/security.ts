/**
 * A command's identity (docs/security.md): an X.509 SVID from the SPIFFE Workload API
 * (SPIFFE_ENDPOINT_SOCKET) or from files (NSM_SVID_CERT/KEY/BUNDLE, reloaded on change), made the
 * process identity so every gRPC server and client of the process uses mTLS, tokens are signed
 * with the SVID and the authorize elements are on. Without one, or with NSM_INSECURE=true, gRPC
 * is plaintext without authorization: dev mode, said loudly at start.
 */
import { setProcessIdentity } from "../core/index.js";
import { ConfigError, type EnvReader } from "../tools/env.js";
import type { Logger } from "../tools/log.js";
import { fileSource, workloadApiSource, type X509Source } from "../tools/spiffe/index.js";

export interface SecurityConfig {
  spiffeSocket?: string;
  files?: { cert: string; key: string; bundle: string };
  insecure: boolean;
  /** how long to wait for the first SVID from the Workload API */
  svidTimeoutMs: number;
}

export const SECURITY_HELP = `  SPIFFE_ENDPOINT_SOCKET   (unset)  SPIFFE Workload API, e.g. unix:///run/spire/agent.sock: mTLS + SVID-signed tokens + authorization
  NSM_SVID_CERT            (unset)  or an SVID from PEM files (chain), reloaded when they change; needs NSM_SVID_KEY, NSM_SVID_BUNDLE
  NSM_SVID_KEY             (unset)  the SVID's PKCS#8 PEM key
  NSM_SVID_BUNDLE          (unset)  the trust domain's CA certificates (PEM)
  NSM_SVID_TIMEOUT         10s      how long to wait for the first SVID from the Workload API
  NSM_INSECURE             false    dev mode: plaintext gRPC and no authorization even with an SVID
Without an SVID gRPC is plaintext and nothing is authorized (dev mode; logged as a warning).`;

export function readSecurity(e: EnvReader): SecurityConfig {
  const cert = e.optional("NSM_SVID_CERT");
  const key = e.optional("NSM_SVID_KEY");
  const bundle = e.optional("NSM_SVID_BUNDLE");
  if ((cert || key || bundle) && !(cert && key && bundle))
    throw new ConfigError(
      cert ? (key ? "NSM_SVID_BUNDLE" : "NSM_SVID_KEY") : "NSM_SVID_CERT",
      "",
      "NSM_SVID_CERT, NSM_SVID_KEY and NSM_SVID_BUNDLE go together",
    );
  return {
    spiffeSocket: e.optional("SPIFFE_ENDPOINT_SOCKET") || undefined,
    files: cert && key && bundle ? { cert, key, bundle } : undefined,
    insecure: e.bool("NSM_INSECURE", false),
    svidTimeoutMs: e.duration("NSM_SVID_TIMEOUT", "10s"),
  };
}

/** Gets the SVID (fatal when configured and unavailable) and makes it the process identity. */
export async function startIdentity(c: SecurityConfig, log: Logger): Promise<{ source?: X509Source; close(): void }> {
  // explicit dev mode is a warning; no SVID configured at all (a fresh setup) is said at info level, as loudly
  const plaintext = (why: string, level: "warn" | "info") => {
    log[level](
      { insecure: true },
      `*** INSECURE: ${why}: gRPC is plaintext, tokens are not SVID-signed and nothing is authorized (dev mode) ***`,
    );
    setProcessIdentity(undefined);
    return { close() {} };
  };
  if (c.insecure) return plaintext("NSM_INSECURE=true", "warn");
  let source: X509Source;
  if (c.files) source = fileSource({ ...c.files, log });
  else if (c.spiffeSocket)
    source = await workloadApiSource({ socket: c.spiffeSocket, timeoutMs: c.svidTimeoutMs, log });
  else return plaintext("no SVID configured (SPIFFE_ENDPOINT_SOCKET, NSM_SVID_CERT unset)", "info");
  const s = source.svid();
  log.info({ spiffeId: s.id, notAfter: s.notAfter.toISOString() }, "mTLS with SPIFFE identity");
  setProcessIdentity(source);
  return {
    source,
    close() {
      setProcessIdentity(undefined);
      source.close();
    },
  };
}
