/** The interdomain processes of one domain's fabric (see MeshOptions.interdomain). */
import { join } from "node:path";
import type { MeshState } from "./state.js";

export interface ProcSpec {
  name: string;
  role: string;
  netns: string;
  cmd: string;
  env: Record<string, string>;
}

/** map-ip (from the mesh's own node list), registry-proxy-dns and nsmgr-proxy, on the fabric. */
export function interdomainProcs(state: MeshState, dnsServer: string, dir: string): ProcSpec[] {
  const id = state.interdomain!;
  const mapFile = join(dir, "map-ip.yaml");
  return [
    {
      name: "map-ip",
      role: "map-ip",
      netns: state.fabric,
      cmd: "map-ip",
      env: { NSM_MESH_STATE: state.stateFile, NSM_OUTPUT_PATH: mapFile },
    },
    {
      name: "registry-proxy-dns",
      role: "registry-proxy-dns",
      netns: state.fabric,
      cmd: "registry-proxy-dns",
      env: { NSM_LISTEN_ON: id.registryProxyUrl, NSM_DNS_SERVER: dnsServer, NSM_DNS_TIMEOUT: "1s" },
    },
    {
      name: "nsmgr-proxy",
      role: "nsmgr-proxy",
      netns: state.fabric,
      cmd: "nsmgr-proxy",
      env: {
        NSM_NAME: `nsmgr-proxy-${id.domain}`,
        NSM_LISTEN_ON: id.nsmgrProxyUrl,
        NSM_REGISTRY_URL: state.registryUrl,
        NSM_REGISTRY_PROXY_URL: id.registryProxyUrl,
        NSM_MAP_IP_FILE_PATH: mapFile,
        NSM_DIAL_TIMEOUT: "2s",
      },
    },
  ];
}
