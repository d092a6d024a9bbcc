/** The endpoint (NSE) component (see ../components.ts). */
import {
  create,
  NetworkServiceEndpointSchema,
  NetworkServiceSchema,
  payload as payloads,
  mechType,
  type NetworkServiceEndpoint,
  type MessageInitShape,
  DNSConfigSchema,
} from "../../api/index.js";
import { newCtx, serve, type GrpcServer, type ServerElement } from "../../core/index.js";
import type { NseRegistryClient, NsRegistryClient } from "../../registry/chains/client.js";
import { endpoint, type Endpoint } from "../chains/endpoint.js";
import { dnsContextServer } from "../common/dnscontext/server.js";
import { point2PointIpamServer } from "../common/ipam/point2pointipam/server.js";
import { kernelMechanismServer } from "../common/mechanisms/kernel/server.js";
import { memifMechanismServer } from "../common/mechanisms/memif/server.js";
import { mechanismsServer } from "../common/mechanisms/server.js";
import { sendFdServer } from "../common/mechanisms/sendfd/server.js";
import { instrumentServer } from "../utils/telemetry.js";
import { basics, closeQuietly, registryClients, type Common } from "./common.js";

export interface EndpointConfig extends Common {
  listenOn: readonly string[];
  /** the local nsmgr (NSM_CONNECT_TO), where the NSE registers */
  nsmgrUrl: string;
  /** NSM_SERVICE_NAMES */
  services: readonly string[];
  /** NSM_LABELS, the same for every service */
  labels?: Readonly<Record<string, string>>;
  /** NSM_CIDR_PREFIX pools (default 169.254.0.0/16) */
  cidrs?: readonly string[];
  /** NSM_DNS_CONFIGS */
  dnsConfigs?: readonly MessageInitShape<typeof DNSConfigSchema>[];
  /** NSM_PAYLOAD for the NetworkService registration (default ETHERNET) */
  payload?: string;
  /** NSM_REGISTER_SERVICE (default true) */
  registerService?: boolean;
  /** our netns for the kernel mechanism (default /proc/<pid>/ns/net) */
  netnsUrl?: string;
  /** the address elements in place of the point-to-point IPAM (vL3: dns, mtu, vl3 addresses) */
  ipam?: readonly ServerElement[];
  /** more elements after the standard ones (before the end of the chain) */
  extra?: readonly ServerElement[];
}

export interface NetworkServiceEndpointHandle {
  readonly url: string;
  readonly endpoint: Endpoint;
  readonly registration: NetworkServiceEndpoint;
  /** stops serving without unregistering (as a crash would) */
  kill(): Promise<void>;
  /** unregisters (NSM_UNREGISTER_ITSELF) and stops */
  close(o?: { unregister?: boolean }): Promise<void>;
}

export async function createEndpoint(o: EndpointConfig): Promise<NetworkServiceEndpointHandle> {
  const b = await basics(o);
  const { life, tokens, log, unlisten } = b;
  const registry = registryClients(o, b);
  const ep = endpoint({
    name: o.name,
    tokens,
    signal: life.signal,
    extra: [
      ...(o.ipam ?? [point2PointIpamServer(o.cidrs ?? ["169.254.0.0/16"])]),
      mechanismsServer({
        [mechType.KERNEL]: kernelMechanismServer({ netnsUrl: o.netnsUrl }),
        [mechType.MEMIF]: memifMechanismServer({ netnsUrl: o.netnsUrl }),
        [mechType.NOOP]: {},
      }),
      dnsContextServer(o.dnsConfigs ?? []),
      ...(o.extra ?? []),
      sendFdServer(), // our netns leaves as an fd on unix sockets
    ],
  });
  let server: GrpcServer | undefined;
  let nseReg: NseRegistryClient | undefined;
  let nsReg: NsRegistryClient | undefined;
  const cleanup = async () => {
    unlisten();
    life.abort();
    if (server) await closeQuietly("grpc server", log, () => server!.close());
    await closeQuietly("registry client", log, () => nseReg?.close());
    await closeQuietly("registry client", log, () => nsReg?.close());
  };
  try {
    server = await serve(o.listenOn, { ...ep, networkService: instrumentServer(ep, o.telemetry) }, { log });
    const url = server.urls[0]!.href;
    const ctx = newCtx({ timeoutMs: 15_000, signal: life.signal });
    if (o.registerService !== false) {
      nsReg = registry.ns();
      for (const s of o.services) {
        await nsReg.register(create(NetworkServiceSchema, { name: s, payload: o.payload ?? payloads.ETHERNET }), ctx);
      }
    }
    nseReg = registry.nse();
    const labels = o.labels ?? {};
    const registration = await nseReg.register(
      create(NetworkServiceEndpointSchema, {
        name: o.name,
        networkServiceNames: [...o.services],
        networkServiceLabels: Object.fromEntries(o.services.map((s) => [s, { labels: { ...labels } }])),
        url,
      }),
      ctx,
    );
    log.info({ url, services: o.services }, "endpoint: startup completed");
    const r = nseReg;
    let done: Promise<void> | undefined;
    return {
      url,
      endpoint: ep,
      registration,
      kill: () => (done ??= cleanup()),
      close: (c = {}) =>
        (done ??= (async () => {
          if (c.unregister !== false)
            await closeQuietly("unregister", log, () => r.unregister(registration, newCtx({ timeoutMs: 1000 })));
          await cleanup();
        })()),
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
