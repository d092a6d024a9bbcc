/**
 * `nsm forwarder`: the forwarder's control plane with a pluggable datapath (NSM_DATAPATH). It
 * registers with its nsmgr as an NSE of the forwarder service (labels p2p=true + NSM_LABELS).
 */
import { nullBackend } from "../datapath/backends/null/index.js";
import type { DatapathBackend } from "../forwarder/backend.js";
import { createForwarder } from "../networkservice/components.js";
import { COMMON_HELP, readCommon, stopSignal } from "../networkservice/cmdutil.js";
import { envReader, type Env } from "../tools/env.js";
import { newLogger, type Logger } from "../tools/log.js";

export const DATAPATHS = ["kernel", "null"] as const;

export const ENV_HELP = `nsm forwarder — forwarder (control plane + datapath backend)

  NSM_NAME           forwarder                                        registration and segment name
  NSM_LISTEN_ON      unix:///var/lib/networkservicemesh/<name>.sock   listen URL
  NSM_CONNECT_TO     unix:///var/lib/networkservicemesh/nsm.io.sock   the local nsmgr
  NSM_NSNAME         forwarder                                        service to register under
  NSM_LABELS         (none)                                           extra labels k:v,... (p2p:true is always set)
  NSM_DIAL_TIMEOUT   750ms                                            dial timeout
  NSM_DATAPATH       kernel                                           ${DATAPATHS.join(" | ")} (kernel is not built yet: null is used)
${COMMON_HELP}`;

export function readConfig(env: Env = process.env) {
  const e = envReader(env);
  const c = readCommon(e, "forwarder");
  return {
    ...c,
    listenOn: e.urls("NSM_LISTEN_ON", [`unix:///var/lib/networkservicemesh/${c.name}.sock`]).map((u) => u.href),
    nsmgrUrl: e.url("NSM_CONNECT_TO", "unix:///var/lib/networkservicemesh/nsm.io.sock").href,
    forwarderService: e.string("NSM_NSNAME", "forwarder"),
    labels: e.map("NSM_LABELS"),
    dialTimeoutMs: e.duration("NSM_DIAL_TIMEOUT", "750ms"),
    datapath: e.oneOf("NSM_DATAPATH", DATAPATHS, "kernel"),
  };
}

/** The backend for NSM_DATAPATH; kernel falls back to null (with a warning) until it exists. */
export function backendFor(name: (typeof DATAPATHS)[number], log: Logger): DatapathBackend {
  if (name === "kernel") log.warn("NSM_DATAPATH=kernel: the kernel datapath is not built yet, using the null datapath (no interfaces are plumbed)");
  return nullBackend();
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) { console.log(ENV_HELP); return 0; }
  const cfg = readConfig();
  const log = newLogger({ component: "forwarder", level: cfg.logLevel });
  log.info(cfg, "configuration");
  const ac = new AbortController();
  const fwd = await createForwarder({ ...cfg, backend: backendFor(cfg.datapath, log), signal: ac.signal, log });
  log.info({ url: fwd.url, datapath: fwd.backend.name }, "Startup completed");
  const sig = await stopSignal();
  log.info({ signal: sig }, "stopping");
  await fwd.close();
  return 0;
}
