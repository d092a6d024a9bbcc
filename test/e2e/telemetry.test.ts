/**
 * Telemetry on a mesh of real processes (src/mesh) with PROMETHEUS on everywhere: the
 * forwarder's /metrics (scraped from inside its node namespace) lists the live connection's
 * interface counters, and they grow with the packets pinged across the connection. Root only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ping, rootSkip } from "../../src/datapath/testing/index.js";
import { FABRIC_PREFIX, type MeshProc } from "../../src/mesh/index.js";
import { peerOf, testMesh } from "../helpers/workloads.js";

const execFileP = promisify(execFile);

/** GET `url` from inside `netns` (the endpoint listens on that namespace's loopback) */
async function scrape(netns: string, url: string): Promise<string> {
  const js = `fetch(${JSON.stringify(url)}).then(r=>r.text()).then(t=>process.stdout.write(t))`;
  const { stdout } = await execFileP("nsenter", [`--net=/run/netns/${netns}`, "--", process.execPath, "-e", js], {
    maxBuffer: 16 << 20,
  });
  return stdout;
}

async function metricsUrl(p: MeshProc): Promise<string> {
  const line = await p.waitFor(/Prometheus metrics on/, 20_000);
  return (JSON.parse(line) as { url: string }).url;
}

/** the value of `name{...label...}` in a scrape, or undefined */
function sample(text: string, name: string, label: string): number | undefined {
  const l = text.split("\n").find((x) => x.startsWith(`${name}{`) && x.includes(label));
  return l === undefined ? undefined : Number(l.slice(l.lastIndexOf(" ") + 1));
}

test(
  "telemetry: the forwarder's Prometheus endpoint shows a live connection's interface counters growing with ping",
  { skip: rootSkip, timeout: 120_000 },
  async (t) => {
    const m = await testMesh(t, "nsm-telemetry-", {
      nodes: 2,
      env: { PROMETHEUS: "true", NSM_PROMETHEUS_LISTEN_ON: "127.0.0.1:0" },
    });
    await m.startNse(1, { name: "nse-tel", cidr: "172.16.1.100/31", services: ["icmp-responder"] });
    const nsc = await m.startNsc(0, { name: "nsc-tel", services: ["kernel://icmp-responder/nsm-1"] });
    await nsc.waitFor(/connected to/, 30_000);
    const fwd = m.procs.get("forwarder-0")!;
    const url = await metricsUrl(fwd);
    const ns = m.state.nodes[0]!.netns;
    const ours = 'nsc="nsc-tel"';

    // the kernel datapath has figures from the second read after plumbing on: poll, bounded
    const read = async () => {
      const text = await scrape(ns, url);
      return {
        text,
        rxPackets: sample(text, "server_rx_packets_total", ours),
        rxBytes: sample(text, "server_rx_bytes_total", ours),
        txPackets: sample(text, "server_tx_packets_total", ours),
        clientTx: sample(text, "client_tx_packets_total", ours),
      };
    };
    let before = await read();
    for (const end = Date.now() + 10_000; before.rxPackets === undefined && Date.now() < end;) {
      await new Promise((r) => setTimeout(r, 100));
      before = await read();
    }
    assert.ok(before.rxPackets !== undefined, `no interface counters for the connection:\n${before.text}`);
    const labels = before.text.split("\n").find((l) => l.startsWith("server_rx_packets_total{"))!;
    assert.match(labels, /connection_id="[^"]+",network_service="icmp-responder",nsc="nsc-tel"/);
    // <TYPE>/<name>: the kernel datapath makes the client's nsm-1 as the vxlan device itself
    assert.match(labels, /nsc_interface="[A-Z]+\/nsm-1",nse_interface="[A-Z]+\/[^"]+"/);
    assert.match(before.text, /^nsm_request_duration_seconds_count\{.*kind="request".*\} [1-9]/m);
    assert.match(before.text, /^nsm_connections\{.*\} 1$/m);

    const n = 20;
    await ping(nsc.workload, await peerOf(nsc.workload), n, 20);
    const after = await read();
    // rx = what the client sent toward the forwarder; tx = the replies; the NSE-facing side carries both
    assert.ok(after.rxPackets! - before.rxPackets! >= n, `rx packets ${before.rxPackets} → ${after.rxPackets}`);
    assert.ok(after.txPackets! - before.txPackets! >= n, `tx packets ${before.txPackets} → ${after.txPackets}`);
    assert.ok(after.rxBytes! - before.rxBytes! >= n * 84, `rx bytes ${before.rxBytes} → ${after.rxBytes}`);
    assert.ok(after.clientTx! - before.clientTx! >= n, `client-side tx packets ${before.clientTx} → ${after.clientTx}`);
    t.diagnostic(
      `forwarder-0 ${url}: rx packets ${before.rxPackets} → ${after.rxPackets}, rx bytes ${before.rxBytes} → ${after.rxBytes}`,
    );
  },
);

/** An OTLP/gRPC receiver as a process in `netns`, appending every export's raw bytes to `file`. */
function otlpReceiverIn(netns: string, listen: string, file: string) {
  const js = `
const grpc = require("@grpc/grpc-js"); const fs = require("node:fs");
const raw = (path) => ({ path, requestStream: false, responseStream: false,
  requestSerialize: (b) => b, requestDeserialize: (b) => b, responseSerialize: (b) => b, responseDeserialize: (b) => b });
const got = (call, cb) => { fs.appendFileSync(${JSON.stringify(file)}, call.request); cb(null, Buffer.alloc(0)); };
const s = new grpc.Server();
s.addService({ M: raw("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export") }, { M: got });
s.addService({ T: raw("/opentelemetry.proto.collector.trace.v1.TraceService/Export") }, { T: got });
s.bindAsync(${JSON.stringify(listen)}, grpc.ServerCredentials.createInsecure(), (e) => { if (e) { console.error(e.message); process.exit(1); } console.log("listening"); });
process.on("SIGTERM", () => process.exit(0));`;
  const root = new URL("../..", import.meta.url).pathname;
  return spawn("nsenter", [`--net=/run/netns/${netns}`, "--", process.execPath, "-e", js], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
}

test(
  "telemetry: with TELEMETRY on, nsmgr pushes <segment>_<metric> counters and every hop's spans over OTLP/gRPC",
  { skip: rootSkip, timeout: 150_000 },
  async (t) => {
    const m = await testMesh(t, "nsm-otel-", {
      nodes: 2,
      env: {
        TELEMETRY: "true",
        NSM_OPEN_TELEMETRY_ENDPOINT: `${FABRIC_PREFIX}.254:4317`,
        NSM_METRICS_EXPORT_INTERVAL: "1s",
      },
    });
    const dir = mkdtempSync(join(tmpdir(), "nsm-otlp-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "otlp.bin");
    writeFileSync(file, "");
    const rx = otlpReceiverIn(m.state.fabric, `${FABRIC_PREFIX}.254:4317`, file);
    const rxExit = new Promise((r) => rx.once("exit", r));
    t.after(async () => {
      if (rx.exitCode === null) {
        rx.kill("SIGTERM");
        await rxExit;
      }
    });
    await new Promise<void>((resolve, reject) => {
      rx.stdout!.once("data", () => resolve());
      rx.once("exit", (c) => reject(new Error(`OTLP receiver exited (${c})`)));
    });

    await m.startNse(1, { name: "nse-otel", cidr: "172.16.1.100/31", services: ["icmp-responder"] });
    // 60 s tokens: the refresh after ~20 s carries the forwarders' counters up the path to nsmgr-0
    const nsc = await m.startNsc(0, {
      name: "nsc-otel",
      services: ["kernel://icmp-responder/nsm-1"],
      env: { NSM_MAX_TOKEN_LIFETIME: "60s" },
    });
    await nsc.waitFor(/connected to/, 30_000);
    await ping(nsc.workload, await peerOf(nsc.workload), 5, 10);
    const has = (s: string) => readFileSync(file).includes(s);
    for (const end = Date.now() + 60_000; !has("forwarder-0_server_rx_packets") && Date.now() < end;)
      await new Promise((r) => setTimeout(r, 500));
    assert.ok(has("forwarder-0_server_rx_packets"), "nsmgr exported forwarder-0's per-segment counter");
    assert.ok(has("forwarder-1_client_tx_bytes"), "and the remote forwarder's");
    assert.ok(has("NetworkService/Request"), "spans are exported");
    for (const name of ["nsmgr-0", "forwarder-0", "nsmgr-1", "forwarder-1", "nse-otel"])
      assert.ok(has(name), `${name} exported (service.name)`);
  },
);
