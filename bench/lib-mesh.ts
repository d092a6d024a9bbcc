/**
 * The in-process mesh of the datapath benches: nsmgr (with its memory registry), a forwarder over
 * the datapath backend a bench brings (kernel, OVS, VPP, ...), an NSE in one netns and an NSC in
 * another, all in this process on unix sockets under `dir`; the NSC neither heals nor refreshes.
 *
 *   const mesh = await startMesh({
 *     dir, backend: () => kernelBackend({ stateDir: join(dir, "fwd") }),
 *     service: "icmp", cidrs: ["172.16.0.0/20"], nscNetns: "b-1", nseNetns: "b-2",
 *   });
 *   try { await mesh.close(await mesh.request("nsm-0", "nsc-0")); } finally { await mesh.stop(); }
 */
import { join } from "node:path";
import type { Connection } from "../src/api/index.js";
import { newCtx } from "../src/core/index.js";
import type { DatapathBackend } from "../src/forwarder/backend.js";
import {
  createClient,
  createEndpoint,
  createForwarder,
  createNsmgr,
  type Forwarder,
  type NetworkServiceEndpointHandle,
  type NscHandle,
  type Nsmgr,
} from "../src/networkservice/components.js";
import { parseNsUrl, requestFromNsUrl } from "../src/networkservice/utils/nsurl.js";

export interface MeshOptions<B extends DatapathBackend> {
  /** where the unix sockets go (`<name>.sock`); the caller owns it */
  dir: string;
  /** makes the forwarder's datapath once nsmgr is up; the forwarder closes it */
  backend: () => Promise<B>;
  /** the NSE's service and address pool */
  service: string;
  cidrs: string[];
  /** the NSE's payload (EndpointConfig.payload) */
  payload?: string;
  /** netns names (under /run/netns) of the NSC and the NSE */
  nscNetns: string;
  nseNetns: string;
}

export interface Mesh<B extends DatapathBackend> {
  readonly nsmgr: Nsmgr;
  readonly backend: B;
  readonly fwd: Forwarder;
  readonly nse: NetworkServiceEndpointHandle;
  readonly nsc: NscHandle;
  /** a Request for `kernel://<service>/<ifname>` with connection id `id` */
  request(ifname: string, id: string, timeoutMs?: number): Promise<Connection>;
  close(conn: Connection, timeoutMs?: number): Promise<unknown>;
  /** closes the NSC, NSE, forwarder (and with it the backend), then nsmgr */
  stop(): Promise<void>;
}

export async function startMesh<B extends DatapathBackend>(o: MeshOptions<B>): Promise<Mesh<B>> {
  const life = new AbortController();
  const sock = (n: string) => `unix://${join(o.dir, `${n}.sock`)}`;
  const common = { signal: life.signal, dialTimeoutMs: 2000 };
  const stack: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const f of stack.reverse()) {
      try {
        await f();
      } catch (e) {
        console.error(`bench mesh stop: ${(e as Error).message}`);
      }
    }
    stack.length = 0;
    life.abort();
  };
  try {
    const nsmgr = await createNsmgr({ ...common, name: "nsmgr", listenOn: [sock("nsmgr")] });
    stack.push(() => nsmgr.close());
    const backend = await o.backend();
    // a forwarder that fails to start closes the backend itself
    const fwd = await createForwarder({
      ...common,
      name: "fwd",
      listenOn: [sock("fwd")],
      nsmgrUrl: nsmgr.url,
      backend,
    });
    stack.push(() => fwd.close());
    const nse = await createEndpoint({
      ...common,
      name: "nse",
      listenOn: [sock("nse")],
      nsmgrUrl: nsmgr.url,
      services: [o.service],
      cidrs: o.cidrs,
      netnsUrl: `file:///run/netns/${o.nseNetns}`,
      ...(o.payload === undefined ? {} : { payload: o.payload }),
    });
    stack.push(() => nse.close());
    const nsc = await createClient({
      ...common,
      name: "nsc",
      nsmgrUrl: nsmgr.url,
      netnsUrl: `file:///run/netns/${o.nscNetns}`,
      heal: false,
      refresh: false,
    });
    stack.push(() => nsc.close());
    return {
      nsmgr,
      backend,
      fwd,
      nse,
      nsc,
      request: (ifname, id, timeoutMs = 10_000) =>
        nsc.client.request(requestFromNsUrl(parseNsUrl(`kernel://${o.service}/${ifname}`), id), newCtx({ timeoutMs })),
      close: (conn, timeoutMs = 10_000) => nsc.client.close(conn, newCtx({ timeoutMs })),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
