/** Other strings that go over the wire (upstream `api/pkg/api/networkservice/payload`,
 * `sdk/pkg/tools/clientinfo`, `sdk/pkg/tools/token`; docs/api.md "Strings on the wire"): payloads, labels, metadata keys, defaults. */

/** `NetworkService.payload` / `Connection.payload`. */
export const payload = { ETHERNET: "ETHERNET", IP: "IP" } as const;
export type Payload = (typeof payload)[keyof typeof payload];

/** SR-IOV label keys (upstream `labels/sriov`). */
export const sriovLabels = { SRIOV_TOKEN: "sriovToken", SERVICE_DOMAIN: "serviceDomain" } as const;

/** Labels the SDK fills from env (`clientinfo`), never overwriting existing ones: env var → label key. */
export const clientInfoLabels = { NODE_NAME: "nodeName", POD_NAME: "podName", CLUSTER_NAME: "clusterName" } as const;

/** gRPC metadata keys. `path` holds the registry's private JSON path `{"Index":n,"PathSegments":[{"token":..}]}`. */
export const metadataKeys = {
  CLIENT_TOKEN: "nsm-client-token",
  /** RFC 3339 with nanoseconds, e.g. `2025-01-02T03:04:05.123456789Z`. */
  CLIENT_TOKEN_EXPIRES: "nsm-client-token-expires",
  REGISTRY_PATH: "path",
} as const;

/** Defaults and names used across NSM components. */
export const wellKnown = {
  NSM_SOCKET_URL: "unix:///var/lib/networkservicemesh/nsm.io.sock",
  CONFIG_DIR: "/var/lib/networkservicemesh/config",
  EXCLUDED_PREFIXES_FILE: "/var/lib/networkservicemesh/config/excluded_prefixes.yaml",
  IPMAP_FILE: "/var/lib/networkservicemesh/config/ipmap.yaml",
  REGISTRY_DNS_NAME: "registry.nsm-system",
  NSMGR_PROXY_DNS_NAME: "nsmgr-proxy.nsm-system",
  FORWARDER_SERVICE: "forwarder",
  /** Test forwarders register for FORWARDER_SERVICE with this label. */
  FORWARDER_P2P_LABEL: { p2p: "true" },
  DEFAULT_REGISTRATION_EXPIRY_MS: 60_000,
  QUERY_CACHE_LIFETIME_MS: 60_000,
} as const;

/** `<target>@<domain>` names are interdomain. */
export const INTERDOMAIN_SEPARATOR = "@";
