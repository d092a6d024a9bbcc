/**
 * A command's identity (docs/security.md): an X.509 SVID from the SPIFFE Workload API
 * (SPIFFE_ENDPOINT_SOCKET) or from files (NSM_SVID_CERT/KEY/BUNDLE, reloaded on change), made the
 * process identity so every gRPC server and client of the process uses mTLS, tokens are signed
 * with the SVID and the authorize elements are on. Without one, or with NSM_INSECURE=true, gRPC
 * is plaintext without authorization: dev mode, said loudly at start.
 */
import { getProcessIdentity, setProcessIdentity } from "../core/index.js";
import { loadPolicies } from "../tools/opa/index.js";
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

/** upstream's defaults: its embedded policies, which the authorize elements evaluate in TypeScript */
export const DEFAULT_REGISTRY_SERVER_POLICIES = [
  "etc/nsm/opa/common/.*.rego",
  "etc/nsm/opa/registry/.*.rego",
  "etc/nsm/opa/server/.*.rego",
];
export const DEFAULT_REGISTRY_CLIENT_POLICIES = [
  "etc/nsm/opa/common/.*.rego",
  "etc/nsm/opa/registry/.*.rego",
  "etc/nsm/opa/client/.*.rego",
];

export const POLICIES_HELP = `  NSM_REGISTRY_SERVER_POLICIES   etc/nsm/opa/{common,registry,server}/.*.rego   registry authorization: upstream's defaults (built in); other paths/masks = custom Rego files, compiled by opa (must load, or no start)
  NSM_REGISTRY_CLIENT_POLICIES   etc/nsm/opa/{common,registry,client}/.*.rego   what an nsmgr checks on the path its registry answers (mTLS); other paths/masks = custom Rego files`;

export function readPolicies(e: EnvReader) {
  return {
    registryServerPolicies: e.list("NSM_REGISTRY_SERVER_POLICIES", DEFAULT_REGISTRY_SERVER_POLICIES),
    registryClientPolicies: e.list("NSM_REGISTRY_CLIENT_POLICIES", DEFAULT_REGISTRY_CLIENT_POLICIES),
  };
}

/** Loads the custom registry policies (throws, naming the variable and file, when one does not load). */
export async function loadRegistryPolicies(c: ReturnType<typeof readPolicies>, log: Logger) {
  const server = await loadPolicies("NSM_REGISTRY_SERVER_POLICIES", c.registryServerPolicies);
  const client = await loadPolicies("NSM_REGISTRY_CLIENT_POLICIES", c.registryClientPolicies);
  if (server.length) {
    const secure = getProcessIdentity() !== undefined;
    log[secure ? "info" : "warn"](
      { policies: server.map((p) => p.file) },
      secure
        ? "custom registry server policies loaded"
        : "custom registry policies loaded but not applied: no SPIFFE identity",
    );
  }
  if (client.length) log.info({ policies: client.map((p) => p.file) }, "custom registry client policies loaded");
  return Object.assign(server, { client });
}
