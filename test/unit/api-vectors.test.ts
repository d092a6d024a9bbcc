// Decodes every hex vector below (encoded by protoc 3.21 --deterministic_output from upstream's
// .proto files, networkservicemesh/api v1.15.0; see docs/api.md "Test vectors") with our
// generated types, checks the listed values, and re-encodes to the same bytes; checks every
// gRPC method path of upstream's services.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  ConnectionEventSchema,
  ConnectionEventType,
  ConnectionState,
  fromBinary,
  IpamDef,
  IpamType,
  MonitorConnectionDef,
  MonitorScopeSelectorSchema,
  NetworkServiceDef,
  NetworkServiceEndpointQuerySchema,
  NetworkServiceEndpointRegistryDef,
  NetworkServiceEndpointSchema,
  NetworkServiceRegistryDef,
  NetworkServiceRequestSchema,
  NetworkServiceResponseSchema,
  PrefixRequestSchema,
  toBinary,
  toJson,
  apiRegistry,
  file_connection,
  file_connectioncontext,
  file_ipam,
  file_networkservice,
  file_registry,
} from "../../src/api/index.js";
import type { DescMessage, MessageShape } from "../../src/api/index.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function roundTrip<D extends DescMessage>(schema: D, bytes: Buffer, len: number, sha?: string): MessageShape<D> {
  assert.equal(bytes.length, len, "vector length");
  if (sha) assert.equal(sha256(bytes), sha, "vector sha256 (transcription check)");
  const msg = fromBinary(schema, bytes);
  assert.equal(Buffer.from(toBinary(schema, msg)).toString("hex"), bytes.toString("hex"), "re-encoding differs");
  return msg;
}

/** The parts of vector A's proto3 JSON the test reads. */
interface VectorJson {
  connection: {
    context: { MTU: number; ipContext: { srcIpAddrs: string[] } };
    path: { pathSegments: { expires: string }[] };
  };
  mechanismPreferences: { parameters: Record<string, string> }[];
}

test("vector A: networkservice.NetworkServiceRequest", () => {
  const req = roundTrip(
    NetworkServiceRequestSchema,
    hex(`
0a95020a2432323232323232322d323232322d323232322d323232322d323232
323232323232323232120e69636d702d726573706f6e64657222340a2f0a0d31
37322e31362e312e332f3332120d3137322e31362e312e322f3332320f0a0d31
37322e31362e312e322f333228a60b2a0d0a036170701206616c70696e65328d
01080112400a0a616c70696e652d6e7363122431313131313131312d31313131
2d313131312d313131312d3131313131313131313131311a04746f6b41220608
80e2cfaa0612470a0b6e736d67722d6e6f646531122432323232323232322d32
3232322d323232322d323232322d3232323232323232323232321a04746f6b42
220c08d8e6cfaa061080cab5ee01420845544845524e455412490a054c4f4341
4c12064b45524e454c1a200a08696e6f646555524c1214696e6f64653a2f2f34
2f343032363533313939321a160a046e616d65120e69636d702d72652d613142
326333`),
    355,
    "b61f916ba0d75d472eb49bed590a382042b675b21fedd99db03ab0212865dc03",
  );
  const c = req.connection!;
  assert.equal(c.id, "22222222-2222-2222-2222-222222222222");
  assert.equal(c.networkService, "icmp-responder");
  const ip = c.context!.ipContext!;
  assert.deepEqual(ip.srcIpAddrs, ["172.16.1.3/32"]);
  assert.deepEqual(ip.dstIpAddrs, ["172.16.1.2/32"]);
  assert.equal(ip.dstRoutes.length, 1);
  assert.equal(ip.dstRoutes[0]!.prefix, "172.16.1.2/32");
  assert.equal(ip.dstRoutes[0]!.nextHop, "");
  assert.equal(c.context!.MTU, 1446);
  assert.deepEqual(c.labels, { app: "alpine" });
  assert.equal(c.path!.index, 1);
  const [s0, s1] = c.path!.pathSegments;
  assert.equal(c.path!.pathSegments.length, 2);
  assert.equal(s0!.name, "alpine-nsc");
  assert.equal(s0!.id, "11111111-1111-1111-1111-111111111111");
  assert.equal(s0!.token, "tokA");
  assert.equal(s0!.expires!.seconds, 1700000000n);
  assert.equal(s0!.expires!.nanos, 0);
  assert.equal(s1!.name, "nsmgr-node1");
  assert.equal(s1!.id, "22222222-2222-2222-2222-222222222222");
  assert.equal(s1!.token, "tokB");
  assert.equal(s1!.expires!.seconds, 1700000600n);
  assert.equal(s1!.expires!.nanos, 500000000);
  assert.equal(c.payload, "ETHERNET");
  assert.equal(c.state, ConnectionState.UP);
  assert.equal(req.mechanismPreferences.length, 1);
  const m = req.mechanismPreferences[0]!;
  assert.equal(m.cls, "LOCAL");
  assert.equal(m.type, "KERNEL");
  assert.deepEqual(m.parameters, { inodeURL: "inode://4/4026531992", name: "icmp-re-a1B2c3" });

  // proto3 JSON names the spec lists (MTU stays upper case, nextHop camelCase)
  const json = toJson(NetworkServiceRequestSchema, req, { registry: apiRegistry }) as unknown as VectorJson;
  assert.equal(json.connection.context.MTU, 1446);
  assert.deepEqual(json.connection.context.ipContext.srcIpAddrs, ["172.16.1.3/32"]);
  assert.equal(json.connection.path.pathSegments[0].expires, "2023-11-14T22:13:20Z");
  assert.equal(json.connection.path.pathSegments[1].expires, "2023-11-14T22:23:20.500Z");
  assert.equal(json.mechanismPreferences[0].parameters.inodeURL, "inode://4/4026531992");
});

test("vector B: registry.NetworkServiceEndpoint", () => {
  const nse = roundTrip(
    NetworkServiceEndpointSchema,
    hex(`
0a1469636d702d726573706f6e6465722d6e73652d31120e69636d702d726573
706f6e6465721a290a0e69636d702d726573706f6e64657212170a150a036170
70120e69636d702d726573706f6e64657222157463703a2f2f3139322e302e32
2e31303a353030332a0608bce2cfaa0632060880e2cfaa063a26737069666665
3a2f2f6578616d706c652e6f72672f6e732f64656661756c742f73612f6e7365`),
    160,
    "503eab261404bcbc29dd8338dd2041ec50f86b1b4212f6493f4f669625160595",
  );
  assert.equal(nse.name, "icmp-responder-nse-1");
  assert.deepEqual(nse.networkServiceNames, ["icmp-responder"]);
  assert.deepEqual(Object.keys(nse.networkServiceLabels), ["icmp-responder"]);
  assert.deepEqual(nse.networkServiceLabels["icmp-responder"]!.labels, { app: "icmp-responder" });
  assert.equal(nse.url, "tcp://192.0.2.10:5003");
  assert.equal(nse.expirationTime!.seconds, 1700000060n);
  assert.equal(nse.expirationTime!.nanos, 0);
  assert.equal(nse.initialRegistrationTime!.seconds, 1700000000n);
  assert.deepEqual(nse.pathIds, ["spiffe://example.org/ns/default/sa/nse"]);
});

test("vector C: connection.ConnectionEvent", () => {
  const ev = roundTrip(
    ConnectionEventSchema,
    hex(`
080112de010a2433333333333333332d333333332d333333332d333333332d33
333333333333333333333312b5010a2433333333333333332d333333332d3333
33332d333333332d333333333333333333333333120e69636d702d726573706f
6e6465721a1e0a054c4f43414c12064b45524e454c1a0d0a046e616d6512056e
736d2d31323b12390a0b6e736d67722d6e6f646531122433333333333333332d
333333332d333333332d333333332d3333333333333333333333331a04746f6b
433a1469636d702d726573706f6e6465722d6e73652d31420845544845524e45
544801`),
    227,
    "c52a6fdda22a580e98537d5b5e646808831fc73f0b1041086b32a69aa8859f36",
  );
  const id = "33333333-3333-3333-3333-333333333333";
  assert.equal(ev.type, ConnectionEventType.UPDATE);
  assert.deepEqual(Object.keys(ev.connections), [id]);
  const c = ev.connections[id]!;
  assert.equal(c.id, id);
  assert.equal(c.networkService, "icmp-responder");
  assert.equal(c.mechanism!.cls, "LOCAL");
  assert.equal(c.mechanism!.type, "KERNEL");
  assert.deepEqual(c.mechanism!.parameters, { name: "nsm-1" });
  assert.equal(c.path!.index, 0);
  assert.equal(c.path!.pathSegments.length, 1);
  assert.equal(c.path!.pathSegments[0]!.name, "nsmgr-node1");
  assert.equal(c.path!.pathSegments[0]!.id, id);
  assert.equal(c.path!.pathSegments[0]!.token, "tokC");
  assert.equal(c.path!.pathSegments[0]!.expires, undefined);
  assert.equal(c.networkServiceEndpointName, "icmp-responder-nse-1");
  assert.equal(c.payload, "ETHERNET");
  assert.equal(c.state, ConnectionState.DOWN);
});

test("small vectors: query, prefix request, monitor selector, NS response", () => {
  const q = roundTrip(NetworkServiceEndpointQuerySchema, hex("0a10120e69636d702d726573706f6e6465721001"), 20);
  assert.deepEqual(q.networkServiceEndpoint!.networkServiceNames, ["icmp-responder"]);
  assert.equal(q.networkServiceEndpoint!.name, "");
  assert.equal(q.watch, true);

  const pr = roundTrip(
    PrefixRequestSchema,
    hex("0801120d3137322e31362e302e302f32341a0d3137322e31362e312e302f3234"),
    32,
  );
  assert.equal(pr.type, IpamType.ALLOCATE);
  assert.equal(pr.prefix, "172.16.0.0/24");
  assert.deepEqual(pr.excludePrefixes, ["172.16.1.0/24"]);

  const sel = roundTrip(
    MonitorScopeSelectorSchema,
    hex(
      "0a330a0b6e736d67722d6e6f646531122433333333333333332d333333332d333333332d333333332d333333333333333333333333120e69636d702d726573706f6e646572",
    ),
    69,
  );
  assert.equal(sel.pathSegments.length, 1);
  assert.equal(sel.pathSegments[0]!.name, "nsmgr-node1");
  assert.equal(sel.pathSegments[0]!.id, "33333333-3333-3333-3333-333333333333");
  assert.equal(sel.pathSegments[0]!.token, "");
  assert.deepEqual(sel.networkServices, ["icmp-responder"]);

  const r = roundTrip(
    NetworkServiceResponseSchema,
    hex(`
0a580a0e69636d702d726573706f6e646572120845544845524e45541a3c0a0d
0a036170701206616c70696e6512190a150a03617070120e69636d702d726573
706f6e64657210011801220e0a0c0a04746965721204676f6c641001`),
    92,
  );
  const ns = r.networkService!;
  assert.equal(ns.name, "icmp-responder");
  assert.equal(ns.payload, "ETHERNET");
  assert.equal(ns.matches.length, 1);
  const m = ns.matches[0]!;
  assert.deepEqual(m.sourceSelector, { app: "alpine" });
  assert.equal(m.routes.length, 1);
  assert.deepEqual(m.routes[0]!.destinationSelector, { app: "icmp-responder" });
  assert.equal(m.routes[0]!.weight, 1);
  assert.equal(m.fallthrough, true);
  assert.deepEqual(m.metadata!.labels, { tier: "gold" });
  assert.deepEqual(ns.pathIds, []);
  assert.equal(r.deleted, true);
});

test("grpc definitions carry every upstream method path with its streaming flags", () => {
  const defs = [
    NetworkServiceDef,
    MonitorConnectionDef,
    NetworkServiceEndpointRegistryDef,
    NetworkServiceRegistryDef,
    IpamDef,
  ];
  const got = new Map<string, [boolean, boolean]>();
  for (const d of defs) for (const m of Object.values(d)) got.set(m.path, [m.requestStream, m.responseStream]);
  const want: [string, boolean, boolean][] = [
    ["/networkservice.NetworkService/Request", false, false],
    ["/networkservice.NetworkService/Close", false, false],
    ["/connection.MonitorConnection/MonitorConnections", false, true],
    ["/registry.NetworkServiceEndpointRegistry/Register", false, false],
    ["/registry.NetworkServiceEndpointRegistry/Find", false, true],
    ["/registry.NetworkServiceEndpointRegistry/Unregister", false, false],
    ["/registry.NetworkServiceRegistry/Register", false, false],
    ["/registry.NetworkServiceRegistry/Find", false, true],
    ["/registry.NetworkServiceRegistry/Unregister", false, false],
    ["/ipam.IPAM/ManagePrefixes", true, true],
  ];
  assert.equal(got.size, want.length, `unexpected paths: ${[...got.keys()].join(", ")}`);
  for (const [path, reqStream, resStream] of want) assert.deepEqual(got.get(path), [reqStream, resStream], path);
  assert.equal(NetworkServiceDef.request.path, "/networkservice.NetworkService/Request");
  assert.equal(IpamDef.managePrefixes.path, "/ipam.IPAM/ManagePrefixes");
});

test("grpc (de)serializers round-trip protobuf bytes", () => {
  const b = hex("0a10120e69636d702d726573706f6e6465721001");
  const q = NetworkServiceEndpointRegistryDef.find.requestDeserialize(b);
  assert.equal(q.watch, true);
  assert.deepEqual(NetworkServiceEndpointRegistryDef.find.requestSerialize(q), b);
  const e = NetworkServiceDef.close.responseDeserialize(Buffer.alloc(0));
  assert.equal(e.$typeName, "google.protobuf.Empty");
});

test("registered file names and imports match upstream", () => {
  const want: Record<string, string[]> = {
    "connectioncontext.proto": [],
    "connection.proto": ["google/protobuf/timestamp.proto", "connectioncontext.proto"],
    "networkservice.proto": ["connection.proto", "google/protobuf/empty.proto"],
    "registry.proto": ["google/protobuf/empty.proto", "google/protobuf/timestamp.proto"],
    "ipam.proto": [],
  };
  const files = [file_connectioncontext, file_connection, file_networkservice, file_registry, file_ipam];
  assert.deepEqual(
    Object.fromEntries(files.map((f) => [f.name + ".proto", f.dependencies.map((d) => d.name + ".proto")])),
    want,
  );
  assert.deepEqual(
    files.map((f) => f.proto.package),
    ["connectioncontext", "connection", "networkservice", "registry", "ipam"],
  );
});
