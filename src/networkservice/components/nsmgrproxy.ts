/**
 * The nsmgr-proxy component (cmd-nsmgr-proxy): NetworkService + MonitorConnection (chains/nsmgrproxy)
 * and both registries (registry/chains/nsmgrproxy) on one server. Its public URL is the first
 * tcp listen URL, with `tcp://:port` published on the first non-loopback IPv4 address.
 */
import { networkInterfaces } from "node:os";
import { dial, serve, type GrpcServer } from "../../core/index.js";
import { nsmgrProxyRegistry, type NsmgrProxyRegistry } from "../../registry/chains/nsmgrproxy.js";
import { MapIpFile, type IpMap } from "../../tools/mapip.js";
import { type Endpoint } from "../chains/endpoint.js";
import { nsmgrProxy } from "../chains/nsmgrproxy.js";
import { ChannelPool } from "../common/dial/pool.js";
import { basics, closeQuietly, type Common } from "./common.js";

export interface NsmgrProxyConfig extends Common {
  listenOn: readonly string[];
  /** NSM_REGISTRY_URL: this domain's registry */
  registryUrl: string;
  /** NSM_REGISTRY_PROXY_URL: registry-proxy-dns */
  proxyRegistryUrl: string;
  /** NSM_MAP_IP_FILE_PATH (a missing file = no swap until it appears) or a map */
  mapIp: string | IpMap;
}

export interface NsmgrProxy {
  readonly url: string;
  readonly endpoint: Endpoint;
  readonly registry: NsmgrProxyRegistry;
  readonly server: GrpcServer;
  close(): Promise<void>;
}

/** `tcp://:port` / `tcp://0.0.0.0:port` → the first non-loopback IPv4 address (upstream listenonurl). */
export function publicUrl(listenOn: readonly string[]): string {
  const first = listenOn.find((u) => u.startsWith("tcp://")) ?? listenOn[0];
  if (!first) throw new Error("NSM_LISTEN_ON is empty");
  const m = /^tcp:\/\/(?:0\.0\.0\.0)?:(\d+)$/.exec(first);
  if (!m) return first;
  const ip = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
  return `tcp://${ip ?? "127.0.0.1"}:${m[1]}`;
}

export async function createNsmgrProxy(o: NsmgrProxyConfig): Promise<NsmgrProxy> {
  const { life, tokens, log, unlisten } = await basics(o);
  const url = publicUrl(o.listenOn);
  const map = typeof o.mapIp === "string" ? new MapIpFile(o.mapIp, { log }) : o.mapIp;
  const pool = new ChannelPool({ dialTimeoutMs: o.dialTimeoutMs });
  const local = dial(o.registryUrl, { dialTimeoutMs: o.dialTimeoutMs });
  const registry = nsmgrProxyRegistry({
    ownUrl: url,
    proxyRegistryUrl: o.proxyRegistryUrl,
    map,
    dialTimeoutMs: o.dialTimeoutMs,
  });
  const ep = nsmgrProxy({
    name: o.name,
    tokens,
    signal: life.signal,
    registry: { ns: local.nsRegistry, nse: local.nseRegistry },
    urls: registry.urls,
    selfUrls: registry.selfUrls,
    map,
    pool,
  });
  const release = () => {
    registry.close();
    local.close();
    pool.close();
    if (map instanceof MapIpFile) map.close();
  };
  let server: GrpcServer;
  try {
    server = await serve(
      o.listenOn,
      { networkService: ep.networkService, monitor: ep.monitor, nseRegistry: registry.nse, nsRegistry: registry.ns },
      { log },
    );
  } catch (e) {
    unlisten();
    life.abort();
    release();
    throw e;
  }
  log.info({ url, registry: o.registryUrl, proxyRegistry: o.proxyRegistryUrl }, "nsmgr-proxy: startup completed");
  return {
    url,
    endpoint: ep,
    registry,
    server,
    async close() {
      unlisten();
      life.abort();
      await closeQuietly("grpc server", log, () => server.close());
      release();
    },
  };
}
