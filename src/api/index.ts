/**
 * The nsm-ts wire API: protobuf-es messages generated from proto/ (see docs/api.md), grpc-js
 * service definitions, mechanism/label constants and small helpers. Handwritten code imports
 * only this file, never a path inside gen/.
 *
 * Names are the generated (= upstream proto) names, except where two packages or a common
 * library would clash; those are renamed here:
 *
 * | proto name                          | exported as                                   | why |
 * |-------------------------------------|-----------------------------------------------|-----|
 * | `networkservice.NetworkService` (service) | `NetworkServiceDesc`                    | `NetworkService` is the registry message |
 * | `connection.MonitorConnection` (service)  | `MonitorConnectionDesc`                 | services all end in `Desc` |
 * | `registry.NetworkServiceEndpointRegistry` | `NetworkServiceEndpointRegistryDesc`    | 〃 |
 * | `registry.NetworkServiceRegistry`         | `NetworkServiceRegistryDesc`            | 〃 |
 * | `ipam.IPAM` (service)                     | `IpamDesc`                              | 〃 |
 * | `registry.NetworkService` (message)       | `NetworkService`, `NetworkServiceSchema` | unchanged |
 * | `connection.State`                        | `ConnectionState`, `ConnectionStateSchema` | too generic |
 * | `ipam.Type`                               | `IpamType`, `IpamTypeSchema`            | too generic |
 * | `registry.Metadata`                       | `MatchMetadata`, `MatchMetadataSchema`  | clashes with grpc-js `Metadata` |
 * | `connectioncontext.Route`                 | `ContextRoute`, `ContextRouteSchema`    | clashes with datapath `Route` |
 *
 * Every message `Foo` comes as `type Foo` plus `FooSchema` (the descriptor for `create`,
 * `toBinary`, ...). grpc-js definitions: `NetworkServiceDef`, `MonitorConnectionDef`,
 * `NetworkServiceEndpointRegistryDef`, `NetworkServiceRegistryDef`, `IpamDef` (see grpc.ts).
 * Mechanism helpers are namespaces: `kernel`, `memif`, `vfio`, `vxlan`, `wireguard`, `ipsec`,
 * `srv6`, `vlan`, plus `cls`, `mechType`, `commonKeys`, `newMechanism`, `ifnameFor`.
 *
 * ```ts
 * import { create, toBinary, NetworkServiceRequestSchema, kernel } from "../api/index.js";
 * const req = create(NetworkServiceRequestSchema, { connection: { id: "c1", networkService: "icmp" },
 *   mechanismPreferences: [kernel.newKernel({ netnsUrl: "file:///proc/self/ns/net" })] });
 * const bytes = toBinary(NetworkServiceRequestSchema, req);
 * ```
 */

// protobuf-es runtime conveniences callers need
export {
  create,
  clone,
  equals,
  isMessage,
  toBinary,
  fromBinary,
  toJson,
  fromJson,
  toJsonString,
  fromJsonString,
  createRegistry,
} from "@bufbuild/protobuf";
export type {
  DescMessage,
  DescService,
  DescMethod,
  Message,
  MessageShape,
  MessageInitShape,
  JsonValue,
} from "@bufbuild/protobuf";
export {
  EmptySchema,
  TimestampSchema,
  timestampDate,
  timestampFromDate,
  timestampFromMs,
  timestampMs,
  timestampNow,
} from "@bufbuild/protobuf/wkt";
export type { Empty, Timestamp } from "@bufbuild/protobuf/wkt";

// connectioncontext.proto
export {
  file_connectioncontext,
  IpNeighborSchema,
  RouteSchema as ContextRouteSchema,
  IpFamilySchema,
  IpFamily_Family,
  IpFamily_FamilySchema,
  ExtraPrefixRequestSchema,
  PolicyRouteSchema,
  IPContextSchema,
  DNSConfigSchema,
  DNSContextSchema,
  EthernetContextSchema,
  ConnectionContextSchema,
} from "./gen/connectioncontext_pb.js";
export type {
  IpNeighbor,
  Route as ContextRoute,
  IpFamily,
  ExtraPrefixRequest,
  PolicyRoute,
  IPContext,
  DNSConfig,
  DNSContext,
  EthernetContext,
  ConnectionContext,
} from "./gen/connectioncontext_pb.js";

// connection.proto
export {
  file_connection,
  MechanismSchema,
  PathSegmentSchema,
  PathSchema,
  ConnectionSchema,
  ConnectionEventSchema,
  MonitorScopeSelectorSchema,
  State as ConnectionState,
  StateSchema as ConnectionStateSchema,
  ConnectionEventType,
  ConnectionEventTypeSchema,
  MonitorConnection as MonitorConnectionDesc,
} from "./gen/connection_pb.js";
export type {
  Mechanism,
  PathSegment,
  Path,
  Connection,
  ConnectionEvent,
  MonitorScopeSelector,
} from "./gen/connection_pb.js";

// networkservice.proto
export {
  file_networkservice,
  NetworkServiceRequestSchema,
  NetworkService as NetworkServiceDesc,
} from "./gen/networkservice_pb.js";
export type { NetworkServiceRequest } from "./gen/networkservice_pb.js";

// registry.proto
export {
  file_registry,
  NetworkServiceSchema,
  MatchSchema,
  MetadataSchema as MatchMetadataSchema,
  DestinationSchema,
  NetworkServiceLabelsSchema,
  NetworkServiceEndpointSchema,
  NetworkServiceQuerySchema,
  NetworkServiceEndpointQuerySchema,
  NetworkServiceResponseSchema,
  NetworkServiceEndpointResponseSchema,
  NetworkServiceEndpointRegistry as NetworkServiceEndpointRegistryDesc,
  NetworkServiceRegistry as NetworkServiceRegistryDesc,
} from "./gen/registry_pb.js";
export type {
  NetworkService,
  Match,
  Metadata as MatchMetadata,
  Destination,
  NetworkServiceLabels,
  NetworkServiceEndpoint,
  NetworkServiceQuery,
  NetworkServiceEndpointQuery,
  NetworkServiceResponse,
  NetworkServiceEndpointResponse,
} from "./gen/registry_pb.js";

// ipam.proto
export {
  file_ipam,
  PrefixRequestSchema,
  PrefixResponseSchema,
  Type as IpamType,
  TypeSchema as IpamTypeSchema,
  IPAM as IpamDesc,
} from "./gen/ipam_pb.js";
export type { PrefixRequest, PrefixResponse } from "./gen/ipam_pb.js";

// the SPIFFE Workload API (src/tools/spiffe)
export type { X509SVIDResponse, X509SVID } from "./gen/workload_pb.js";
export { X509SVIDRequestSchema } from "./gen/workload_pb.js";

// all NSM files (plus their WKT deps) for JSON (toJson/fromJson with `registry`) and reflection
export { apiRegistry } from "./registry.js";

// grpc-js service definitions
export {
  grpcService,
  NetworkServiceDef,
  MonitorConnectionDef,
  NetworkServiceEndpointRegistryDef,
  NetworkServiceRegistryDef,
  IpamDef,
  SpiffeWorkloadAPIDef,
  SERVICE_NAMES,
} from "./grpc.js";
export type {
  GrpcServiceDef,
  NetworkServiceMethod,
  MonitorConnectionMethod,
  NetworkServiceEndpointRegistryMethod,
  NetworkServiceRegistryMethod,
  IpamMethod,
} from "./grpc.js";

// mechanisms and other wire strings (docs/api.md "Mechanisms", "Strings on the wire")
export {
  cls,
  mechType,
  commonKeys,
  newMechanism,
  mechanismsOf,
  getParam,
  setParam,
  parseBool,
  parseUint,
  LINUX_IF_MAX_LENGTH,
  ifnameFor,
  randomIfname,
  truncateIfname,
} from "./mechanisms/common.js";
export type { MechanismCls, MechanismType, MechanismHolder } from "./mechanisms/common.js";
export * as kernel from "./mechanisms/kernel.js";
export * as memif from "./mechanisms/memif.js";
export * as vfio from "./mechanisms/vfio.js";
export * as vxlan from "./mechanisms/vxlan.js";
export * as wireguard from "./mechanisms/wireguard.js";
export * as ipsec from "./mechanisms/ipsec.js";
export * as srv6 from "./mechanisms/srv6.js";
export * as vlan from "./mechanisms/vlan.js";
export { payload, sriovLabels, clientInfoLabels, metadataKeys, wellKnown, INTERDOMAIN_SEPARATOR } from "./constants.js";
export type { Payload } from "./constants.js";
