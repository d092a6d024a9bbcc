/** A protobuf-es registry of every NSM message, enum and service (for JSON and reflection). */
import { createRegistry } from "@bufbuild/protobuf";
import { file_google_protobuf_empty, file_google_protobuf_timestamp } from "@bufbuild/protobuf/wkt";
import { file_connection } from "./gen/connection_pb.js";
import { file_connectioncontext } from "./gen/connectioncontext_pb.js";
import { file_ipam } from "./gen/ipam_pb.js";
import { file_networkservice } from "./gen/networkservice_pb.js";
import { file_registry } from "./gen/registry_pb.js";

/** Pass as `{ registry: apiRegistry }` to toJson/fromJson; lookup by full name, e.g. "connection.Connection". */
export const apiRegistry = createRegistry(
  file_google_protobuf_empty,
  file_google_protobuf_timestamp,
  file_connectioncontext,
  file_connection,
  file_networkservice,
  file_registry,
  file_ipam,
);
