/**
 * `nsm nsmgr`: the node's network service manager (cmd-nsmgr): NetworkService, MonitorConnection
 * and both registries on every NSM_LISTEN_ON URL. Registry in memory unless NSM_REGISTRY_URL.
 */
import { dial, messageOf } from "../core/index.js";
import { createNsmgr } from "../networkservice/components.js";
import { COMMON_HELP, readCommon } from "../networkservice/cmdutil.js";
import { loadRegistryPolicies, POLICIES_HELP, readPolicies } from "../networkservice/security.js";
import { envReader, type Env } from "../tools/env.js";
import { readTelemetryConfig, startTelemetry, TELEMETRY_HELP } from "../tools/telemetry/index.js";
import { newLogger } from "../tools/log.js";
import { lifecycle } from "./lifecycle.js";

export const ENV_HELP = `nsm nsmgr — Network Service Manager

  NSM_NAME                              nmgr                                   segment name (upstream's default, sic)
  NSM_LISTEN_ON                         unix:///var/lib/networkservicemesh/nsm.io.sock   listen URLs; the first tcp one is published
  NSM_REGISTRY_URL                      tcp://localhost:5001                   remote registry; empty ("") = in-memory registry here
  NSM_DIAL_TIMEOUT                      750ms                                  dial timeout to forwarders and the registry
  NSM_FORWARDER_NETWORK_SERVICE_NAME    forwarder                              service forwarders register under
  NSM_EXPIRE_PERIOD                     1m                                     NSE registration lifetime without refresh
  NSM_EXCLUDED_PREFIXES_FILE            /var/lib/networkservicemesh/config/excluded_prefixes.yaml   prefixes added to every request's excluded_prefixes (nsm exclude-prefixes writes it; watched; "" = off)
${POLICIES_HELP}
${TELEMETRY_HELP}
${COMMON_HELP}`;

export function readConfig(env: Env = process.env) {
  const e = envReader(env);
  return {
    ...readCommon(e, "nmgr"),
    listenOn: e.urls("NSM_LISTEN_ON", ["unix:///var/lib/networkservicemesh/nsm.io.sock"]).map((u) => u.href),
    // upstream defaults to tcp://localhost:5001; an explicitly empty value means "serve the registry here"
    registryUrl: env.NSM_REGISTRY_URL === "" ? undefined : e.url("NSM_REGISTRY_URL", "tcp://localhost:5001").href,
    dialTimeoutMs: e.duration("NSM_DIAL_TIMEOUT", "750ms"),
    forwarderService: e.string("NSM_FORWARDER_NETWORK_SERVICE_NAME", "forwarder"),
    expirePeriodMs: e.duration("NSM_EXPIRE_PERIOD", "1m"),
    // upstream's fixed path (sdk excludedprefixes); ours can be moved or turned off
    excludedPrefixesFile:
      env.NSM_EXCLUDED_PREFIXES_FILE === ""
        ? undefined
        : e.string("NSM_EXCLUDED_PREFIXES_FILE", "/var/lib/networkservicemesh/config/excluded_prefixes.yaml"),
    ...readPolicies(e),
  };
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(ENV_HELP);
    return 0;
  }
  const cfg = readConfig();
  const log = newLogger({ component: "nsmgr", level: cfg.logLevel });
  log.info(cfg, "configuration");
  let registryPolicies;
  try {
    registryPolicies = await loadRegistryPolicies(cfg, log);
  } catch (e) {
    log.error({ err: messageOf(e) }, "cannot load the registry policies");
    return 1;
  }
  const lc = lifecycle({ log });
  const telemetry = await startTelemetry(readTelemetryConfig(), { component: "nsmgr", name: cfg.name, log });
  const mgr = await lc.start(
    createNsmgr({
      ...cfg,
      registryPolicies,
      registryClientPolicies: registryPolicies?.client,
      signal: lc.signal,
      log,
      telemetry,
    }),
    (m) => m.close(),
  );
  if (!mgr) {
    await telemetry.close();
    return lc.exitCode;
  }
  if (cfg.registryUrl) {
    // startup does not wait for the registry (it may come later), but the user must hear it is not there
    const probe = dial(cfg.registryUrl, { dialTimeoutMs: cfg.dialTimeoutMs });
    try {
      await probe.waitReady();
    } catch (e) {
      log.warn(
        { registry: cfg.registryUrl, err: messageOf(e) },
        `registry ${cfg.registryUrl} is unreachable: registrations and lookups fail until it answers (NSM_REGISTRY_URL)`,
      );
    } finally {
      probe.close();
    }
  }
  log.info({ url: mgr.url }, "Startup completed");
  return lc.shutdown(async () => {
    await mgr.close();
    await telemetry.close();
  });
}
