/**
 * grpc-js service definitions built from the generated protobuf-es service descriptors.
 * Wire bytes only go through toBinary/fromBinary, so what grpc-js sends is exactly the
 * protobuf encoding upstream NSM (Go) expects. Method keys are protobuf-es local names:
 *
 * | definition                          | methods (key → path)                                          |
 * |-------------------------------------|---------------------------------------------------------------|
 * | `NetworkServiceDef`                 | `request`, `close` → `/networkservice.NetworkService/{Request,Close}` |
 * | `MonitorConnectionDef`              | `monitorConnections` (server stream) → `/connection.MonitorConnection/MonitorConnections` |
 * | `NetworkServiceEndpointRegistryDef` | `register`, `find` (server stream), `unregister` → `/registry.NetworkServiceEndpointRegistry/...` |
 * | `NetworkServiceRegistryDef`         | `register`, `find` (server stream), `unregister` → `/registry.NetworkServiceRegistry/...` |
 * | `IpamDef`                           | `managePrefixes` (bidi) → `/ipam.IPAM/ManagePrefixes`         |
 *
 * ```ts
 * server.addService(NetworkServiceDef, { request: (call, cb) => ..., close: (call, cb) => ... });
 * const Client = grpc.makeGenericClientConstructor(NetworkServiceDef, "NetworkService");
 * ```
 */
import type * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescService, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { MonitorConnection } from "./gen/connection_pb.js";
import { IPAM } from "./gen/ipam_pb.js";
import { NetworkService } from "./gen/networkservice_pb.js";
import { NetworkServiceEndpointRegistry, NetworkServiceRegistry } from "./gen/registry_pb.js";
import { SpiffeWorkloadAPI } from "./gen/workload_pb.js";

/** A grpc-js service definition whose keys and message types follow the protobuf-es service. */
export type GrpcServiceDef<S extends GenServiceMethods> = {
  readonly [K in keyof S]: grpc.MethodDefinition<MessageShape<S[K]["input"]>, MessageShape<S[K]["output"]>>;
};

/** toBinary's fresh array as a Buffer without a copy (`Buffer.from(u8)` would copy every message) */
const asBuffer = (u8: Uint8Array): Buffer => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);

/** Builds a grpc-js service definition (path `/${typeName}/${method}`) from a protobuf-es service. */
export function grpcService<S extends GenServiceMethods>(svc: GenService<S>): GrpcServiceDef<S>;
export function grpcService(svc: DescService): grpc.ServiceDefinition;
export function grpcService(svc: DescService): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of svc.methods) {
    const streamIn = m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming";
    const streamOut = m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming";
    def[m.localName] = {
      path: `/${svc.typeName}/${m.name}`,
      requestStream: streamIn,
      responseStream: streamOut,
      originalName: m.name,
      requestSerialize: (x) => asBuffer(toBinary(m.input, x as MessageShape<typeof m.input>)),
      requestDeserialize: (b) => fromBinary(m.input, b),
      responseSerialize: (x) => asBuffer(toBinary(m.output, x as MessageShape<typeof m.output>)),
      responseDeserialize: (b) => fromBinary(m.output, b),
    };
  }
  return def;
}

export const NetworkServiceDef = grpcService(NetworkService);
export const MonitorConnectionDef = grpcService(MonitorConnection);
export const NetworkServiceEndpointRegistryDef = grpcService(NetworkServiceEndpointRegistry);
export const NetworkServiceRegistryDef = grpcService(NetworkServiceRegistry);
export const IpamDef = grpcService(IPAM);
/** the SPIFFE Workload API (X.509 part): `fetchX509SVID`, `fetchX509Bundles` (server streams) */
export const SpiffeWorkloadAPIDef = grpcService(SpiffeWorkloadAPI);

export type NetworkServiceMethod = keyof typeof NetworkServiceDef; // "request" | "close"
export type MonitorConnectionMethod = keyof typeof MonitorConnectionDef; // "monitorConnections"
export type NetworkServiceEndpointRegistryMethod = keyof typeof NetworkServiceEndpointRegistryDef; // "register" | "find" | "unregister"
export type NetworkServiceRegistryMethod = keyof typeof NetworkServiceRegistryDef; // "register" | "find" | "unregister"
export type IpamMethod = keyof typeof IpamDef; // "managePrefixes"

/** Full service names (as in upstream's .proto files), e.g. for grpc health or reflection. */
export const SERVICE_NAMES = {
  networkService: NetworkService.typeName, // "networkservice.NetworkService"
  monitorConnection: MonitorConnection.typeName, // "connection.MonitorConnection"
  networkServiceEndpointRegistry: NetworkServiceEndpointRegistry.typeName, // "registry.NetworkServiceEndpointRegistry"
  networkServiceRegistry: NetworkServiceRegistry.typeName, // "registry.NetworkServiceRegistry"
  ipam: IPAM.typeName, // "ipam.IPAM"
} as const;
