/**
 * A local mesh in network namespaces, with real `nsm` processes: a fabric netns with a bridge,
 * N node namespaces joined to it by veth (198.18.0.<i+1>/24, the benchmarking range: traffic
 * never leaves these namespaces), a registry on the bridge (198.18.0.254:5002), and per node an
 * `nsm nsmgr` (unix socket + tcp on the node address) and an `nsm forwarder` (kernel datapath)
 * started inside the node netns. Endpoints and clients run in workload namespaces of their own.
 * Used by `nsm up` and by the e2e tests; everything made is written to a state file as it is made,
 * so `destroyMesh(state)` (or `nsm down`) removes it even after a crash.
 *
 *   const mesh = await createMesh({ id: "t-42-0", dir: "/tmp/x", nodes: 2 });
 *   const nse = await mesh.startNse(1, { name: "nse-1", cidr: "172.16.1.100/31" });
 *   const nsc = await mesh.startNsc(0, { name: "nsc", services: ["kernel://icmp-responder/nsm-1"] });
 *   await nsc.waitFor(/connected to/);
 *   await mesh.close();
 *
 * Namespaces are made with `ip netns add` (setup tooling, not the datapath: a named netns needs
 * unshare + a bind mount, which node cannot do on a worker thread). Root only.
 */
export {
  FABRIC_PREFIX,
  REGISTRY_PORT,
  NSMGR_PORT,
  saveState,
  readMeshState,
  type MeshProcState,
  type MeshState,
  type MeshOptions,
  type MeshProc,
  type Mesh,
} from "./state.js";
export { alive, isOurs, waitGone } from "./processes.js";
export { destroyMesh, type MeshTeardown } from "./teardown.js";
export { createMesh } from "./fabric.js";
export { createDomains, domainName, type Domains, type DomainsOptions } from "./domains.js";
