#!/usr/bin/env node
// Generates src/vpp/gen/{messages,errors}.ts from VPP's binary-API definitions (the .api.json
// files vppapigen writes, installed under /opt/vpp/share/vpp/api) and VPP's error table
// (vnet/error.h under /opt/vpp/include). Only the messages listed in WANT (and their replies,
// details and events) are emitted: a schema per message (field order, types, CRC) that
// src/vpp/codec.ts interprets, and a TypeScript interface per message.
//
//   node scripts/vpp-gen.mjs [--api DIR] [--include DIR] [--out DIR] [--check]
//
// --check writes nothing: exits 1 when the checked-in files differ from what would be generated.
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const root = new URL("..", import.meta.url).pathname;
const apiDir = opt("--api", process.env.NSM_VPP_API_JSON_DIR ?? "/opt/vpp/share/vpp/api");
const incDir = opt("--include", "/opt/vpp/include");
const outDir = opt("--out", join(root, "src/vpp/gen"));
const check = args.includes("--check");

/** Requests we use; their replies / details / events come from each file's "services". */
export const WANT = [
  // memclnt / vlib / vpe: transport and control
  "sockclnt_create",
  "sockclnt_delete",
  "control_ping",
  "memclnt_keepalive",
  "get_first_msg_id",
  "show_version",
  "cli_inband",
  // interfaces
  "sw_interface_dump",
  "want_interface_events",
  "sw_interface_set_flags",
  "sw_interface_set_mtu",
  "sw_interface_set_rx_mode",
  "sw_interface_tag_add_del",
  "sw_interface_add_del_address",
  "sw_interface_set_mac_address",
  "sw_interface_set_table",
  "sw_interface_set_unnumbered",
  "create_loopback",
  "delete_loopback",
  "ip_address_dump",
  "ip_route_add_del",
  "ip_neighbor_add_del",
  "ip_table_add_del",
  "feature_gso_enable_disable",
  "sw_interface_ip6_enable_disable",
  "sw_interface_ip6nd_ra_config",
  // mechanisms
  "tap_create_v3",
  "tap_delete_v2",
  "af_packet_create_v3",
  "af_packet_delete",
  "memif_socket_filename_add_del_v2",
  "memif_create",
  "memif_create_v2",
  "memif_delete",
  "memif_dump",
  "add_node_next",
  "vxlan_add_del_tunnel_v3",
  "wireguard_interface_create",
  "wireguard_interface_delete",
  "wireguard_peer_add",
  "wireguard_peer_remove",
  "wireguard_peers_dump",
  "want_wireguard_peer_events",
  // cross connects and filters
  "sw_interface_set_l2_xconnect",
  "l3xc_update",
  "l3xc_del",
  "l3xc_dump",
  "acl_add_replace",
  "acl_del",
  "acl_dump",
  "acl_interface_set_acl_list",
  "acl_interface_list_dump",
];

// ---- load every .api.json into one namespace ----
function walk(dir, out = []) {
  for (const n of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, n.name);
    if (n.isDirectory()) walk(p, out);
    else if (n.name.endsWith(".api.json")) out.push(p);
  }
  return out.sort();
}
if (!existsSync(apiDir)) {
  console.error(`vpp-gen: no VPP API definitions at ${apiDir} (install VPP 24.10, or pass --api DIR)`);
  process.exit(2);
}
const msgs = new Map(); // name -> {fields, crc, file}
const services = new Map(); // request -> {reply, stream, stream_msg, events}
const types = new Map(); // name -> fields
const unions = new Map(); // name -> fields
const enums = new Map(); // name -> {base, values}
const aliases = new Map(); // name -> {type, length}
for (const file of walk(apiDir)) {
  const j = JSON.parse(readFileSync(file, "utf8"));
  const rel = file.slice(apiDir.length + 1);
  for (const m of j.messages ?? []) {
    const [name, ...rest] = m;
    const meta = rest.pop();
    msgs.set(name, { fields: rest, crc: meta.crc, file: rel, deprecated: "deprecated" in (meta.options ?? {}) });
  }
  for (const [k, v] of Object.entries(j.services ?? {})) services.set(k, v);
  for (const [name, ...f] of j.types ?? []) types.set(name, f);
  for (const [name, ...f] of j.unions ?? []) unions.set(name, f);
  for (const e of [...(j.enums ?? []), ...(j.enumflags ?? [])]) {
    const [name, ...rest] = e;
    const meta = rest.pop();
    enums.set(name, { base: meta.enumtype, values: rest });
  }
  for (const [k, v] of Object.entries(j.aliases ?? {})) aliases.set(k, v);
}

// ---- resolve field types into schema nodes ----
const SCALAR = new Set(["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f64", "bool"]);
const usedTypes = new Set();
const usedUnions = new Set();
const bare = (t) => t.replace(/^vl_api_/, "").replace(/_t$/, "");
const camel = (s) => s.replace(/(^|_)([a-z0-9])/g, (_, __, c) => c.toUpperCase());
const sizeOf = (node) => {
  switch (node.k) {
    case "u8":
    case "i8":
    case "bool":
      return 1;
    case "u16":
    case "i16":
      return 2;
    case "u32":
    case "i32":
      return 4;
    case "u64":
    case "i64":
    case "f64":
      return 8;
    case "bytes":
    case "string":
      return node.n;
    case "union":
      return unionSize(node.ref);
    case "struct":
      return types.get(node.ref).reduce((a, f) => a + sizeOf(fieldNode(f)), 0);
    case "array":
      return node.n * sizeOf(node.of);
    default:
      throw new Error(`size of ${JSON.stringify(node)}`);
  }
};
function unionSize(name) {
  return Math.max(...unions.get(name).map((f) => sizeOf(fieldNode(f))));
}
/** a type name (no array) -> node */
function typeNode(t) {
  if (SCALAR.has(t)) return { k: t };
  const b = bare(t);
  if (aliases.has(b)) {
    const a = aliases.get(b);
    const inner = typeNode(a.type);
    if (a.length !== undefined)
      return inner.k === "u8" ? { k: "bytes", n: a.length } : { k: "array", n: a.length, of: inner };
    return inner;
  }
  if (enums.has(b)) return { k: enums.get(b).base ?? "u32", e: b };
  if (types.has(b)) {
    if (!usedTypes.has(b)) {
      usedTypes.add(b);
      for (const f of types.get(b)) fieldNode(f);
    }
    return { k: "struct", ref: b };
  }
  if (unions.has(b)) {
    usedUnions.add(b);
    return { k: "union", ref: b, n: unionSize(b) };
  }
  if (t === "string") return { k: "string", n: 0 };
  throw new Error(`vpp-gen: unknown type ${t}`);
}
/** a field [type, name, len?, countField?] -> node */
function fieldNode(f) {
  const [t, , len, count] = f.filter((x) => typeof x !== "object");
  if (t === "string") return { k: "string", n: len ?? 0 };
  const inner = typeNode(t);
  if (len === undefined) return inner;
  if (inner.k === "u8") return count ? { k: "bytes", n: 0, count } : { k: "bytes", n: len };
  return count || len === 0 ? { k: "array", n: 0, of: inner, count } : { k: "array", n: len, of: inner };
}

// ---- choose messages ----
const out = new Map(); // name -> {role}
const reqs = [];
for (const r of WANT) {
  if (!msgs.has(r)) throw new Error(`vpp-gen: ${r} is not in ${apiDir}`);
  const s = services.get(r);
  if (!s) throw new Error(`vpp-gen: ${r} has no service entry`);
  out.set(r, "request");
  out.set(s.reply, "reply");
  if (s.stream) out.set(s.stream_msg ?? s.reply, "details");
  for (const e of s.events ?? []) out.set(e, "event");
  reqs.push({
    name: r,
    reply: s.stream && !s.stream_msg ? "control_ping_reply" : s.reply,
    details: s.stream ? (s.stream_msg ?? s.reply) : undefined,
    events: s.events ?? [],
  });
}
const HEADER = new Set(["_vl_msg_id", "client_index", "context"]);

// ---- emit ----
const tsScalar = (k) => (k === "u64" || k === "i64" ? "bigint" : k === "bool" ? "boolean" : "number");
function tsOf(node) {
  switch (node.k) {
    case "bytes":
    case "union":
      return "Uint8Array";
    case "string":
      return "string";
    case "struct":
      return camel(node.ref);
    case "array":
      return `${tsOf(node.of)}[]`;
    default:
      return tsScalar(node.k);
  }
}
const countFields = (fields) => new Set(fields.map((f) => f[3]).filter((c) => typeof c === "string"));
function iface(name, fields, doc) {
  const counts = countFields(fields);
  const lines = [`/** ${doc} */`, `export interface ${camel(name)} {`];
  for (const f of fields) {
    if (HEADER.has(f[1])) continue;
    const node = fieldNode(f);
    const optional = counts.has(f[1]) ? "?" : "";
    lines.push(`  ${f[1]}${optional}: ${tsOf(node)};`);
  }
  lines.push("}");
  return lines.join("\n");
}
function reqIface(name, fields, doc) {
  const lines = [`/** ${doc} Omitted fields are zero, or the .api default. */`, `export interface ${camel(name)} {`];
  for (const f of fields) {
    if (HEADER.has(f[1])) continue;
    const node = fieldNode(f);
    const deep = node.k === "struct" || (node.k === "array" && node.of.k === "struct");
    lines.push(`  ${f[1]}?: ${deep ? `In<${tsOf(node)}>` : tsOf(node)};`);
  }
  lines.push("}");
  return lines.join("\n");
}
const schemaOf = (fields) =>
  fields.map((f) => {
    const node = fieldNode(f);
    const dflt = f.find((x) => x && typeof x === "object" && "default" in x)?.default;
    return dflt === undefined ? [f[1], node] : [f[1], node, dflt === "true" ? true : dflt === "false" ? false : dflt];
  });

const body = [];
body.push(
  "// Generated by scripts/vpp-gen.mjs from VPP's .api.json files; do not edit.",
  `// ${out.size} messages; layouts and CRCs as in VPP 24.10 (the CRCs are checked at connect).`,
  "/* eslint-disable */",
  'import type { In, MessageSchema, Schema } from "../schema.js";',
  "",
);
const structLines = [];
for (const name of [...out.keys()]) for (const f of msgs.get(name).fields) fieldNode(f); // collect types
for (const t of [...usedTypes].sort()) {
  structLines.push(iface(t, types.get(t), `VPP type \`vl_api_${t}_t\`.`));
}
body.push(...structLines.map((s) => s + "\n"));
for (const [name, role] of out) {
  const m = msgs.get(name);
  const doc = `\`${name}_${m.crc.slice(2)}\` (${m.file}, ${role})${m.deprecated ? ", deprecated in this VPP" : ""}.`;
  body.push((role === "request" ? reqIface(name, m.fields, doc) : iface(name, m.fields, doc)) + "\n");
}
body.push("/** Struct layouts used by the messages below. */");
body.push(
  `export const STRUCTS: Record<string, Schema> = ${JSON.stringify(Object.fromEntries([...usedTypes].sort().map((t) => [t, schemaOf(types.get(t))])))};`,
);
body.push("");
body.push("/** Message layouts: header fields included, in wire order. */");
body.push("export const MESSAGES: Record<string, MessageSchema> = {");
for (const [name] of out) {
  const m = msgs.get(name);
  body.push(`  ${name}: ${JSON.stringify({ crc: m.crc.slice(2), fields: schemaOf(m.fields) })},`);
}
body.push("};", "");
body.push("/** Request → reply type, for `VppClient.request`. */");
body.push("export interface Requests {");
for (const r of reqs.filter((r) => !r.details))
  body.push(`  ${r.name}: { req: ${camel(r.name)}; reply: ${camel(r.reply)} };`);
body.push("}", "");
body.push("/** Dump → details type, for `VppClient.dump`. */");
body.push("export interface Dumps {");
for (const r of reqs.filter((r) => r.details))
  body.push(`  ${r.name}: { req: ${camel(r.name)}; details: ${camel(r.details)} };`);
body.push("}", "");
body.push("/** Events, for `VppClient.on`. */");
body.push("export interface Events {");
for (const [name, role] of out) if (role === "event") body.push(`  ${name}: ${camel(name)};`);
body.push("}", "");
body.push("/** Reply (or details) name of each request. */");
body.push(
  `export const REPLY_OF: Record<string, string> = ${JSON.stringify(Object.fromEntries(reqs.map((r) => [r.name, r.details ?? r.reply])))};`,
);
body.push("");
body.push("/** Enum values by enum name. */");
const usedEnums = new Set();
const collectEnums = (node) => {
  if (node.e) usedEnums.add(node.e);
  if (node.of) collectEnums(node.of);
};
for (const [name] of out) for (const f of msgs.get(name).fields) collectEnums(fieldNode(f));
for (const t of usedTypes) for (const f of types.get(t)) collectEnums(fieldNode(f));
body.push(
  `export const ENUMS = ${JSON.stringify(Object.fromEntries([...usedEnums].sort().map((e) => [e, Object.fromEntries(enums.get(e).values)])), null, 0)} as const;`,
);
body.push("");

// ---- errors from vnet/error.h ----
function errorsTs() {
  const h = readFileSync(join(incDir, "vnet/error.h"), "utf8");
  const rows = [];
  for (const m of h.matchAll(/_\s*\(\s*([A-Z0-9_]+)\s*,\s*(-\d+)\s*,\s*"([^"]*)"\s*\)/g))
    rows.push([Number(m[2]), m[1], m[3]]);
  if (rows.length < 50) throw new Error(`vpp-gen: only ${rows.length} errors found in ${incDir}/vnet/error.h`);
  return [
    "// Generated by scripts/vpp-gen.mjs from VPP's vnet/error.h; do not edit.",
    "/** VPP API return values: retval → [symbol, meaning]. */",
    `export const VPP_ERRORS: ReadonlyMap<number, readonly [string, string]> = new Map([`,
    ...rows.map(([n, s, d]) => `  [${n}, [${JSON.stringify(s)}, ${JSON.stringify(d)}]],`),
    "]);",
    "",
  ].join("\n");
}

const files = { "messages.ts": body.join("\n"), "errors.ts": errorsTs() };
let drift = false;
for (const [name, text] of Object.entries(files)) {
  const p = join(outDir, name);
  if (check) {
    const cur = existsSync(p) ? readFileSync(p, "utf8") : "";
    if (cur !== text) {
      console.error(`vpp-gen: ${p} differs from what ${apiDir} generates`);
      drift = true;
    }
  } else {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(p, text);
    console.log(`wrote ${p}`);
  }
}
process.exit(drift ? 1 : 0);
