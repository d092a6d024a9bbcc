/**
 * The control-plane components as in-process objects: each serves its chains over grpc-js and
 * registers where upstream's does. `src/cmd/*` wrap them with NSM_* configuration; the sandbox
 * composes a whole mesh from them.
 *
 *   const mgr = await createNsmgr({ name: "nsmgr", listenOn: ["unix:///tmp/nsm.sock"], signal });
 *   const fwd = await createForwarder({ name: "fwd", listenOn: ["unix:///tmp/fwd.sock"], nsmgrUrl: mgr.url, signal });
 *   const nse = await createEndpoint({ name: "icmp", listenOn: ["unix:///tmp/nse.sock"], nsmgrUrl: mgr.url, services: ["icmp"], cidrs: ["10.0.0.0/24"], signal });
 */
export { CLOSE_STEP_MS } from "./components/common.js";
export * from "./components/nsmgr.js";
export * from "./components/forwarder.js";
export * from "./components/endpoint.js";
export * from "./components/client.js";
export * from "./components/nsmgrproxy.js";

export type { DNSConfig } from "../api/index.js";
