/**
 * nsm-ts: Network Service Mesh in TypeScript. The package's top level gathers what an embedder
 * needs to run NSM components in its own process; narrower entry points exist for each layer:
 * `nsm-ts/api` (wire messages and grpc-js definitions), `nsm-ts/core` (the chain framework) and
 * `nsm-ts/datapath` (netns/link/addr/route over the native addon). The same three are here as
 * the namespaces `api`, `core` and `datapath`.
 *
 * ```ts
 * import { createNsmgr, createEndpoint } from "nsm-ts";
 * const { signal } = new AbortController(); // abort it to stop both
 * const mgr = await createNsmgr({ name: "nsmgr", listenOn: ["unix:///tmp/nsm.sock"], signal }); // in-memory registry
 * const nse = await createEndpoint({ name: "icmp", listenOn: ["unix:///tmp/nse.sock"], nsmgrUrl: mgr.url,
 *   services: ["icmp"], cidrs: ["10.0.0.0/24"], signal });
 * ```
 * See docs/controlplane.md for the components and docs/datapath.md for the datapath library.
 */
export * as api from "./api/index.js";
export * as core from "./core/index.js";
export * as datapath from "./datapath/index.js";

// components, as in-process objects (what `nsm <command>` runs)
export {
  createNsmgr,
  createForwarder,
  createEndpoint,
  createClient,
  type NsmgrConfig,
  type Nsmgr,
  type ForwarderConfig,
  type Forwarder,
  type EndpointConfig,
  type NetworkServiceEndpointHandle,
  type ClientConfig,
  type NscHandle,
} from "./networkservice/components.js";
export { createRegistry, type RegistryOptions, type Registry } from "./registry/chains/registry.js";
export {
  nseRegistryClient,
  nsRegistryClient,
  type RegistryClientOptions,
  type NseRegistryClient,
  type NsRegistryClient,
} from "./registry/chains/client.js";

// forwarder datapath backends
export type { DatapathBackend, CrossConnect } from "./forwarder/backend.js";
export { nullBackend, type NullBackend } from "./forwarder/backends/null/index.js";
export { kernelBackend, type KernelBackend, type KernelBackendOptions } from "./forwarder/backends/kernel/index.js";
export { ovsBackend, type OvsBackend, type OvsBackendOptions } from "./forwarder/backends/ovs/index.js";
export { memifBackend, type MemifBackend, type MemifBackendOptions } from "./forwarder/backends/memif/index.js";
export { vppBackend, type VppBackend, type VppBackendOptions } from "./forwarder/backends/vpp/index.js";
export { VppClient, type VppClientOptions } from "./vpp/client.js";
export { vppStats, type VppStats, type VppInterfaceStats } from "./vpp/stats.js";

// the local mesh in network namespaces (`nsm up`; root) and the in-process sandbox
export { createMesh, destroyMesh, readMeshState, type MeshState } from "./mesh/index.js";
export { sandbox, type Sandbox, type SandboxOptions } from "./sandbox/index.js";

// tools an embedder configures components with
export { NsmError, status, messageOf } from "./tools/errors.js";
export { parseUrl, formatUrl, type NsmUrl } from "./tools/url.js";
export { newLogger, silentLogger, type Logger, type LoggerOptions } from "./tools/log.js";
export { newTokenGenerator, type TokenGenerator, type TokenGeneratorOptions } from "./tools/token/index.js";
// SPIFFE identities (docs/security.md): setProcessIdentity makes every serve()/dial() mTLS
export { setProcessIdentity, getProcessIdentity } from "./core/index.js";
export {
  workloadApiSource,
  fileSource,
  newTrustDomain,
  issuerSource,
  type X509Source,
  type X509Svid,
} from "./tools/spiffe/index.js";
export { loadPolicies, type RegoPolicy } from "./tools/opa/index.js";
export { envReader, parseDuration, formatDuration, ConfigError } from "./tools/env.js";
export { NativeError } from "./native.js";
export { packageVersion } from "./tools/pkg.js";
