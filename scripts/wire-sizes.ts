/**
 * Prints the encoded size of every message of one local Request, Close and refresh (NSC → nsmgr
 * → forwarder (null datapath) → nsmgr → NSE and back, all in this process over unix sockets),
 * with a breakdown per field (path segments, tokens, mechanism parameters, context, labels).
 * What bench/controlplane's Requests carry on the wire; the table in docs/performance.md.
 *
 *   node --import tsx scripts/wire-sizes.ts [--depth 3]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { setMaxListeners } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clone, create, toBinary, toJson, type DescMessage, type Message } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import * as api from "../src/api/index.js";

const depthArg = process.argv.indexOf("--depth");
const maxDepth = depthArg > 0 ? Number(process.argv[depthArg + 1]) : 3;

interface Rec {
  n: number;
  call: string;
  dir: "req" | "res";
  bytes: number;
  schema: DescMessage;
  msg: Message;
}
const recs: Rec[] = [];
let recording = false;
let seq = 0;

// wrap the serializers of the module-level service definitions before anything dials or serves
function tap(
  def: Record<string, { requestSerialize: unknown; responseSerialize: unknown; path: string }>,
  schemas: Record<string, [DescMessage, DescMessage]>,
) {
  for (const [k, m] of Object.entries(def)) {
    const [inS, outS] = schemas[k]!;
    const rq = m.requestSerialize as (x: Message) => Buffer;
    const rs = m.responseSerialize as (x: Message) => Buffer;
    m.requestSerialize = (x: Message) => {
      const b = rq(x);
      if (recording)
        recs.push({ n: seq++, call: m.path, dir: "req", bytes: b.length, schema: inS, msg: clone(inS, x) });
      return b;
    };
    m.responseSerialize = (x: Message) => {
      const b = rs(x);
      if (recording)
        recs.push({ n: seq++, call: m.path, dir: "res", bytes: b.length, schema: outS, msg: clone(outS, x) });
      return b;
    };
  }
}
const svcSchemas = (svc: { methods: readonly { localName: string; input: DescMessage; output: DescMessage }[] }) =>
  Object.fromEntries(svc.methods.map((m) => [m.localName, [m.input, m.output] as [DescMessage, DescMessage]]));
const gen = await import("../src/api/gen/networkservice_pb.js");
const genConn = await import("../src/api/gen/connection_pb.js");
const genReg = await import("../src/api/gen/registry_pb.js");
tap(api.NetworkServiceDef as never, svcSchemas(gen.NetworkService));
tap(api.MonitorConnectionDef as never, svcSchemas(genConn.MonitorConnection));
tap(api.NetworkServiceEndpointRegistryDef as never, svcSchemas(genReg.NetworkServiceEndpointRegistry));
tap(api.NetworkServiceRegistryDef as never, svcSchemas(genReg.NetworkServiceRegistry));

const { createClient, createEndpoint, createForwarder, createNsmgr } =
  await import("../src/networkservice/components.js");
const { newCtx } = await import("../src/core/index.js");
const { parseNsUrl, requestFromNsUrl } = await import("../src/networkservice/utils/nsurl.js");

/** size of `msg` with only field `name` set */
function fieldSize(r: ReflectMessage, f: ReturnType<ReflectMessage["findNumber"]> & object): number {
  const only = reflect(r.desc, create(r.desc));
  only.set(f, r.get(f) as never);
  return toBinary(r.desc, only.message).length;
}

function breakdown(r: ReflectMessage, prefix: string, depth: number, out: [string, number][]): void {
  for (const f of r.fields) {
    if (!r.isSet(f)) continue;
    const sz = fieldSize(r, f);
    const name = `${prefix}${f.name}`;
    if (f.fieldKind === "message" && depth < maxDepth) {
      out.push([name, sz]);
      breakdown(r.get(f) as ReflectMessage, `${name}.`, depth + 1, out);
    } else if (f.fieldKind === "list" && f.listKind === "message" && depth < maxDepth) {
      out.push([name, sz]);
      const list = r.get(f) as unknown as Iterable<ReflectMessage>;
      let i = 0;
      for (const item of list) {
        const one: [string, number][] = [];
        out.push([`${name}[${i}]`, toBinary(item.desc, item.message).length + 2]);
        breakdown(item, `${name}[${i}].`, depth + 1, one);
        out.push(...one);
        i++;
      }
    } else if (f.fieldKind === "map") {
      out.push([name, sz]);
      if (depth < maxDepth)
        for (const [k, v] of r.get(f) as unknown as Map<unknown, unknown>) {
          const val =
            typeof v === "object" && v && "message" in v
              ? toBinary((v as ReflectMessage).desc, (v as ReflectMessage).message).length
              : String(v).length;
          out.push([`${name}[${String(k)}]`, String(k).length + val + 4]);
        }
    } else out.push([name, sz]);
  }
}

const dir = mkdtempSync(join(tmpdir(), "nsm-wire-"));
const life = new AbortController();
setMaxListeners(0, life.signal);
const common = { signal: life.signal, dialTimeoutMs: 2000 };
const nsmgrUrl = `unix://${join(dir, "nsm.sock")}`;
const mgr = await createNsmgr({ ...common, name: "nsmgr", listenOn: [nsmgrUrl] });
const fwd = await createForwarder({ ...common, name: "fwd", listenOn: [`unix://${join(dir, "fwd.sock")}`], nsmgrUrl });
const nse = await createEndpoint({
  ...common,
  name: "nse",
  listenOn: [`unix://${join(dir, "nse.sock")}`],
  nsmgrUrl,
  services: ["icmp"],
  cidrs: ["10.0.0.0/8"],
});
const nsc = await createClient({ ...common, name: "nsc", nsmgrUrl, heal: false });
const u = parseNsUrl("kernel://icmp/nsm-1");
const ctx = () => newCtx({ deadline: Date.now() + 15_000 });
// warm-up: channels, monitor streams, registry watches
await nsc.client.close(await nsc.client.request(requestFromNsUrl(u, "warm"), ctx()), ctx());
await new Promise((r) => setTimeout(r, 300));

const phases: [string, () => Promise<unknown>][] = [];
let conn: api.Connection | undefined;
phases.push(["Request (new)", async () => (conn = await nsc.client.request(requestFromNsUrl(u, "c-1"), ctx()))]);
phases.push(["Request (refresh)", async () => (conn = await nsc.client.request(requestFromNsUrl(u, "c-1"), ctx()))]);
phases.push(["Close", () => nsc.client.close(conn!, ctx())]);
for (const [label, fn] of phases) {
  recs.length = 0;
  recording = true;
  await fn();
  await new Promise((r) => setTimeout(r, 200)); // monitor events that trail the call
  recording = false;
  const total = recs.reduce((s, r) => s + r.bytes, 0);
  console.log(`\n## ${label}: ${recs.length} messages, ${total} bytes of protobuf`);
  for (const r of recs) {
    const seg = (r.msg as { connection?: api.Connection }).connection?.path ?? (r.msg as api.Connection).path;
    const at = seg ? ` path.index=${seg.index} (${seg.pathSegments.map((s) => s.name).join(">")})` : "";
    console.log(`\n### #${r.n} ${r.call} ${r.dir}: ${r.bytes} B${at}`);
    if (r.bytes < 40) console.log("  " + JSON.stringify(toJson(r.schema, r.msg)));
    const rows: [string, number][] = [];
    breakdown(reflect(r.schema, r.msg), "", 0, rows);
    for (const [k, v] of rows) console.log(`  ${String(v).padStart(6)}  ${k}`);
  }
}
await nsc.close();
await nse.close();
await fwd.close();
await mgr.close();
life.abort();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
