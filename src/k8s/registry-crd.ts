/**
 * The registry's custom resources, as upstream defines them (deployments-k8s
 * `apps/registry-k8s/crd-ns.yaml`, `crd-nse.yaml`; sdk-k8s
 * `pkg/tools/k8s/apis/networkservicemesh.io/v1`): group `networkservicemesh.io`, version `v1`,
 * kinds NetworkService and NetworkServiceEndpoint, namespaced, a free-form `spec` holding the
 * registry message with its proto (snake_case) field names; timestamps as `{seconds, nanos}`
 * as Go's JSON encoding of the protobuf structs writes them.
 *
 *   const spec = nseToSpec(nse);          // { name, network_service_names, url, expiration_time: {seconds, nanos}, ... }
 *   const back = nseFromSpec(spec, "nse-1");
 */
import type { V1CustomResourceDefinition } from "./client.js";
import {
  create,
  fromJson,
  toJson,
  NetworkServiceEndpointSchema,
  NetworkServiceSchema,
  TimestampSchema,
  type JsonValue,
  type NetworkService,
  type NetworkServiceEndpoint,
  type Timestamp,
} from "../api/index.js";

export const NSM_GROUP = "networkservicemesh.io";
export const NSM_VERSION = "v1";
export const NSM_API_VERSION = `${NSM_GROUP}/${NSM_VERSION}`;

export interface CrKind {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  /** metadata.generateName when the item has no name */
  generateName: string;
}
export const NS_KIND: CrKind = {
  kind: "NetworkService",
  plural: "networkservices",
  singular: "networkservice",
  shortNames: ["netsvc", "netsvcs"],
  generateName: "netsvc-",
};
export const NSE_KIND: CrKind = {
  kind: "NetworkServiceEndpoint",
  plural: "networkserviceendpoints",
  singular: "networkserviceendpoint",
  shortNames: ["nse", "nses"],
  generateName: "nse-",
};

/** The CRD object for one kind (spec kept as given: x-kubernetes-preserve-unknown-fields). */
export function registryCrd(k: CrKind): V1CustomResourceDefinition {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${k.plural}.${NSM_GROUP}` },
    spec: {
      group: NSM_GROUP,
      scope: "Namespaced",
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.singular,
        shortNames: k.shortNames,
      },
      versions: [
        {
          name: NSM_VERSION,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: { spec: { type: "object", x_kubernetes_preserve_unknown_fields: true } },
            },
          },
        },
      ],
    },
  };
}

type Json = Record<string, JsonValue>;
const TS_FIELDS = ["expiration_time", "initial_registration_time"] as const;

const tsToGo = (t: Timestamp): Json => {
  const o: Json = {};
  if (t.seconds !== 0n) o.seconds = Number(t.seconds);
  if (t.nanos !== 0) o.nanos = t.nanos;
  return o;
};
const tsFromGo = (v: unknown): Timestamp | undefined => {
  if (typeof v === "string") return fromJson(TimestampSchema, v);
  if (v && typeof v === "object") {
    const o = v as { seconds?: unknown; nanos?: unknown };
    return create(TimestampSchema, { seconds: BigInt(Number(o.seconds ?? 0)), nanos: Number(o.nanos ?? 0) });
  }
  return undefined;
};

export function nseToSpec(e: NetworkServiceEndpoint): Json {
  const j = toJson(NetworkServiceEndpointSchema, e, { useProtoFieldName: true }) as Json;
  if (e.expirationTime) j.expiration_time = tsToGo(e.expirationTime);
  if (e.initialRegistrationTime) j.initial_registration_time = tsToGo(e.initialRegistrationTime);
  return j;
}

export function nseFromSpec(spec: unknown, metaName: string): NetworkServiceEndpoint {
  const j: Json = { ...((spec ?? {}) as Json) };
  const ts = TS_FIELDS.map((f) => tsFromGo(j[f]));
  for (const f of TS_FIELDS) delete j[f];
  const e = fromJson(NetworkServiceEndpointSchema, j, { ignoreUnknownFields: true });
  e.expirationTime = ts[0];
  e.initialRegistrationTime = ts[1];
  if (!e.name) e.name = metaName;
  return e;
}

export function nsToSpec(n: NetworkService): Json {
  return toJson(NetworkServiceSchema, n, { useProtoFieldName: true }) as Json;
}

export function nsFromSpec(spec: unknown, metaName: string): NetworkService {
  const n = fromJson(NetworkServiceSchema, (spec ?? {}) as Json, { ignoreUnknownFields: true });
  if (!n.name) n.name = metaName;
  return n;
}
