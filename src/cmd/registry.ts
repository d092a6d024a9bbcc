/**
 * `nsm registry`: the registry server (cmd-registry-memory, plus etcd and Kubernetes (as
 * cmd-registry-k8s) stores). Configured by
 * upstream's NSM_* variables plus NSM_REGISTRY_STORE; serves until SIGINT/SIGTERM, then stops
 * the gRPC server and closes the store. In-process use: `startRegistry(env)`.
 */
import { serve, type GrpcServer } from "../core/index.js";
import { createRegistry, type Registry } from "../registry/chains/registry.js";
import { parseEtcdUrl, parseK8sStore } from "../registry/store/open.js";
import { ConfigError, envReader, formatDuration, type Env } from "../tools/env.js";
import { type Logger, newLogger } from "../tools/log.js";
import { readLogConfig } from "../networkservice/cmdutil.js";
import { loadRegistryPolicies, POLICIES_HELP, readPolicies, SECURITY_HELP } from "../networkservice/security.js";
import { lifecycle } from "./lifecycle.js";

export const ENV_HELP = `nsm registry — NSM registry server (NetworkServiceRegistry + NetworkServiceEndpointRegistry)

  NSM_LISTEN_ON            unix:///listen.on.socket   listen URLs (comma-separated; e.g. tcp://:5002)
  NSM_PROXY_REGISTRY_URL   (none)                     where interdomain (name@domain) calls go
  NSM_EXPIRE_PERIOD        1m                         lifetime of an NSE registration that is not refreshed
  NSM_REGISTRY_STORE       memory                     memory | etcd://host:port[,host:port][/prefix] | k8s[:namespace]
  NSM_NAMESPACE            default                    namespace of the k8s store's custom resources
  KUBECONFIG               (in-cluster)               kubeconfig of the k8s store (else the pod's service account)
  NSM_DIAL_TIMEOUT         750ms                      dial timeout to the proxy registry
  NSM_LOG_LEVEL            INFO                       TRACE, DEBUG, INFO, WARN, ERROR, FATAL, PANIC
  NSM_LOG_FORMAT           (tty)                      text (for humans; the default on a terminal) | json (the default otherwise)
${POLICIES_HELP}
${SECURITY_HELP}`;

export interface RegistryConfig {
  listenOn: string[];
  proxyRegistryUrl?: string;
  expirePeriodMs: number;
  store: string;
  dialTimeoutMs: number;
  logLevel: string;
  registryServerPolicies?: string[];
  registryClientPolicies?: string[];
}

export function readConfig(env: Env = process.env): RegistryConfig {
  const e = envReader(env);
  const store = e.string("NSM_REGISTRY_STORE", "memory");
  if (store !== "memory") {
    try {
      if (parseK8sStore(store) === undefined) parseEtcdUrl(store);
    } catch (err) {
      throw new ConfigError("NSM_REGISTRY_STORE", store, (err as Error).message);
    }
  }
  const logLevel = readLogConfig(e);
  const expirePeriodMs = e.duration("NSM_EXPIRE_PERIOD", "1m");
  if (expirePeriodMs <= 0) throw new ConfigError("NSM_EXPIRE_PERIOD", env.NSM_EXPIRE_PERIOD ?? "", "must be > 0");
  return {
    listenOn: e.urls("NSM_LISTEN_ON", ["unix:///listen.on.socket"]).map((u) => u.href),
    proxyRegistryUrl: e.optionalUrl("NSM_PROXY_REGISTRY_URL")?.href,
    expirePeriodMs,
    store,
    dialTimeoutMs: e.duration("NSM_DIAL_TIMEOUT", "750ms"),
    logLevel,
    ...readPolicies(e),
  };
}

export interface RunningRegistry {
  registry: Registry;
  server: GrpcServer;
  close(): Promise<void>;
}

/** Starts the registry as `nsm registry` would, in this process. */
export async function startRegistry(
  cfg: RegistryConfig,
  o: { log?: Logger; signal?: AbortSignal } = {},
): Promise<RunningRegistry> {
  const log = o.log ?? newLogger({ component: "registry", level: cfg.logLevel });
  const ac = new AbortController();
  o.signal?.addEventListener("abort", () => ac.abort(), { once: true });
  log.info({ ...cfg, expirePeriod: formatDuration(cfg.expirePeriodMs) }, "configuration");
  const policies = await loadRegistryPolicies(
    {
      registryServerPolicies: cfg.registryServerPolicies ?? [],
      registryClientPolicies: cfg.registryClientPolicies ?? [],
    },
    log,
  );
  const registry = await createRegistry({
    policies,
    expirePeriodMs: cfg.expirePeriodMs,
    store: cfg.store,
    proxyRegistryUrl: cfg.proxyRegistryUrl,
    dialTimeoutMs: cfg.dialTimeoutMs,
    signal: ac.signal,
    log,
  });
  let server: GrpcServer;
  try {
    server = await serve(cfg.listenOn, { nseRegistry: registry.nse, nsRegistry: registry.ns }, { log });
  } catch (e) {
    await registry.close();
    throw e;
  }
  log.info({ listenOn: server.urls.map((u) => u.href), store: registry.nseStore.kind }, "Startup completed");
  return {
    registry,
    server,
    async close() {
      await server.close();
      await registry.close();
      ac.abort();
    },
  };
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const log = newLogger({ component: "registry", level: cfg.logLevel });
  const lc = lifecycle({ log });
  const r = await lc.start(startRegistry(cfg, { log, signal: lc.signal }), (x) => x.close());
  if (!r) return lc.exitCode;
  return lc.shutdown(() => r.close());
}
