/**
 * A SPIFFE Workload API client (upstream `go-spiffe/v2/workloadapi`, X.509 part): one
 * FetchX509SVID stream on SPIFFE_ENDPOINT_SOCKET with the `workload.spiffe.io: true` header; the
 * agent sends the current SVIDs and bundle at once and again at each rotation. A broken stream
 * is re-opened (back-off 0.1 s doubling to 5 s) while the last SVID stays in use.
 *
 *   const src = await workloadApiSource({ socket: "unix:///run/spire/agent.sock", timeoutMs: 10_000 });
 */
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { SpiffeWorkloadAPIDef, X509SVIDRequestSchema, type X509SVIDResponse } from "../../api/index.js";
import { NsmError, messageOf, status } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { splitDer } from "./der.js";
import { derToPem, makeSvid, SourceState, type X509Source } from "./svid.js";

export interface WorkloadApiOptions {
  /** SPIFFE_ENDPOINT_SOCKET: `unix:///path`, `unix:/path` or `tcp://host:port` */
  socket: string;
  /** how long to wait for the first SVID (default 10 s) */
  timeoutMs?: number;
  /** which SVID when the workload has several (default the first, as upstream) */
  spiffeId?: string;
  log?: Logger;
}

function target(socket: string): string {
  if (socket.startsWith("unix:///")) return socket;
  if (socket.startsWith("unix:/")) return `unix://${socket.slice(5)}`;
  if (socket.startsWith("tcp://")) return socket.slice(6);
  if (socket.startsWith("/")) return `unix://${socket}`;
  throw new NsmError(
    status.INVALID_ARGUMENT,
    `SPIFFE_ENDPOINT_SOCKET ${JSON.stringify(socket)}: want unix:///path or tcp://host:port`,
  );
}

/** Connects, waits for the first SVID and keeps it current. */
export async function workloadApiSource(o: WorkloadApiOptions): Promise<X509Source & { readonly updates: number }> {
  const log = (o.log ?? silentLogger).child({ spiffe: "workload-api" });
  const Client = grpc.makeGenericClientConstructor(
    SpiffeWorkloadAPIDef as unknown as grpc.ServiceDefinition,
    "SpiffeWorkloadAPI",
  );
  const client = new Client(target(o.socket), grpc.credentials.createInsecure(), {
    "grpc.default_authority": "localhost",
  }) as unknown as grpc.Client & {
    fetchX509SVID(req: unknown, md: grpc.Metadata): grpc.ClientReadableStream<X509SVIDResponse>;
  };
  let call: grpc.ClientReadableStream<X509SVIDResponse> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let lastErr = "";
  const state = new SourceState(() => {
    clearTimeout(retry);
    call?.cancel();
    client.close();
  });
  let updates = 0;
  let backoff = 100;

  const onResponse = (r: X509SVIDResponse) => {
    const s = o.spiffeId ? r.svids.find((x) => x.spiffeId === o.spiffeId) : r.svids[0];
    if (!s) {
      lastErr = `no SVID${o.spiffeId ? ` for ${o.spiffeId}` : ""} in the response (${r.svids.length} SVIDs)`;
      log.warn({ err: lastErr }, "workload API");
      return;
    }
    try {
      const svid = makeSvid(splitDer(s.x509Svid), toPkcs8(s.x509SvidKey), s.spiffeId);
      const bundle = splitDer(s.bundle).map(derToPem).join("");
      updates++;
      backoff = 100;
      state.set(svid, bundle);
      log.info(
        { id: svid.id, notAfter: svid.notAfter.toISOString() },
        updates === 1 ? "X.509 SVID received" : "X.509 SVID rotated",
      );
    } catch (e) {
      lastErr = messageOf(e);
      log.error({ err: lastErr }, "workload API sent an SVID we cannot use");
    }
  };

  const open = () => {
    if (state.closed) return;
    const md = new grpc.Metadata();
    md.set("workload.spiffe.io", "true");
    const c = client.fetchX509SVID(create(X509SVIDRequestSchema), md);
    call = c;
    c.on("data", onResponse);
    c.on("error", (e: grpc.ServiceError) => {
      if (state.closed || c !== call) return;
      lastErr = `${o.socket}: ${e.details || e.message}`;
      log.warn({ err: lastErr, retryMs: backoff }, "workload API stream failed; re-opening");
      retry = setTimeout(open, backoff);
      retry.unref();
      backoff = Math.min(backoff * 2, 5000);
    });
    c.on("end", () => {
      if (state.closed || c !== call) return;
      retry = setTimeout(open, backoff);
      retry.unref();
    });
  };
  open();

  const timeoutMs = o.timeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      state.ready,
      new Promise<never>((_, rej) => {
        timer = setTimeout(
          () =>
            rej(
              new NsmError(
                status.UNAVAILABLE,
                `no X.509 SVID from the SPIFFE Workload API at ${o.socket} within ${timeoutMs} ms${lastErr ? `: ${lastErr}` : ""}`,
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
  } catch (e) {
    state.close();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return Object.defineProperty(state, "updates", { get: () => updates }) as SourceState & { readonly updates: number };
}

/** the Workload API sends the key as PKCS#8 DER */
function toPkcs8(der: Uint8Array): Buffer {
  return Buffer.from(der.buffer, der.byteOffset, der.byteLength);
}
