/**
 * The vL3 endpoint (upstream cmd-nse-vl3-vpp): it lives in its own network namespace and routes
 * between its clients there, with the namespace's kernel or a VPP of its own (`datapath`,
 * components/vl3-datapath.ts). Startup, as upstream:
 * 1. the datapath, then a prefix from the IPAM service(s) (`ipam.IPAM/ManagePrefixes`); our own
 *    address S (the prefix's first address) goes where the datapath routes (kernel: `lo`, as
 *    upstream puts it on its VPP loopback; vpp: the VPP loopback);
 * 2. the DNS server on :53 (UDP + TCP) of our namespace: our clients' names, then our peers';
 * 3. serve and register (payload IP), then connect, as a client, to every endpoint of the
 *    service that registered before us (later ones connect to us): a full mesh, each link healed
 *    towards the same peer. The links are made in the background (retried until they are up).
 * Every client gets a host address from our prefix and routes to the whole vL3 net via S; a
 * peer's prefix is routed via the peer's S over the link to it.
 *
 * Our DNS server address is S on the kernel datapath, a host of our prefix on a veth to the kernel
 * on VPP's (upstream uses the address of a kernel connection the endpoint makes to itself).
 */
import {
  create,
  ConnectionSchema,
  NetworkServiceRequestSchema,
  payload as payloads,
  type Connection,
} from "../../api/index.js";
import { messageOf, newCtx } from "../../core/index.js";
import { Netns } from "../../datapath/index.js";
import { cache, dnsChain, dnsConfigs, DnsRecords, fanout, noLoop, noRecursion } from "../../tools/dns/handlers.js";
import { listenAndServe, type DnsServer } from "../../tools/dns/wire.js";
import { nseRegistryClient } from "../../registry/chains/client.js";
import { vl3Client } from "../common/vl3/client.js";
import { vl3Server } from "../common/vl3/server.js";
import { vl3DnsClient } from "../common/vl3dns/client.js";
import { vl3DnsServer } from "../common/vl3dns/server.js";
import { vl3MtuServer } from "../common/vl3mtu/server.js";
import { onIdleServer } from "../common/onidle/server.js";
import { findNses } from "../utils/registry.js";
import { parseNsUrl, requestFromNsUrl } from "../utils/nsurl.js";
import { subscribePrefix } from "../vl3ipam/client.js";
import { Vl3Pool } from "../utils/vl3pool.js";
import { Vl3DnsState } from "../utils/vl3dns.js";
import { createClient } from "./client.js";
import { basics, closeQuietly } from "./common.js";
import { kernelVl3Datapath, type Vl3Datapath, type Vl3DatapathKind } from "./vl3-datapath.js";
import { vppVl3Datapath } from "./vl3-vpp.js";
import { createEndpoint, type EndpointConfig, type NetworkServiceEndpointHandle } from "./endpoint.js";

/** seconds our DNS answers may be cached (upstream: 3600; ours short, as a healed client's address moves) */
export const VL3_DNS_TTL = 5;

export const DEFAULT_DNS_TEMPLATE = '{{ index .Labels "podName" }}.{{ .NetworkService }}.';

export interface Vl3Config extends Omit<EndpointConfig, "cidrs" | "dnsConfigs" | "payload" | "ipam"> {
  /** NSM_PREFIX_SERVER_URL: one IPAM service per address family */
  prefixServerUrls: readonly string[];
  /** NSM_DNS_TEMPLATES */
  dnsTemplates?: readonly string[];
  /** NSM_REQUEST_LABELS: labels on our requests to peers */
  requestLabels?: Readonly<Record<string, string>>;
  /** where the DNS server listens (default :53 in our namespace; "" = none) */
  dnsListenOn?: string;
  /** our namespace (default this process's) */
  netnsPath?: string;
  requestTimeoutMs?: number;
  /** NSM_IDLE_TIMEOUT: `onIdle` is called after this long without connections (0/undefined = never) */
  idleTimeoutMs?: number;
  onIdle?: () => void;
  /** NSM_VL3_DATAPATH: who routes (default kernel) */
  datapath?: Vl3DatapathKind;
  /** NSM_VPP_API_SOCKET (vpp datapath): a running VPP in our netns instead of our own */
  vppApiSocket?: string;
  /** NSM_LIVENESS_CHECK_*: heal checks the data plane of our links to peers (default: off) */
  liveness?: { intervalMs: number; timeoutMs: number } | false;
}

export interface Vl3Handle {
  readonly nse: NetworkServiceEndpointHandle;
  /** the pool of the first IPAM service (the one DNS uses) */
  readonly pool: Vl3Pool;
  readonly pools: readonly Vl3Pool[];
  readonly records: DnsRecords;
  /** where our DNS server is reached (S on the kernel datapath; a host of our prefix on VPP's) */
  dnsIp(): string | undefined;
  /** our links to older peers, by peer name */
  readonly peers: ReadonlyMap<string, Connection>;
  close(o?: { unregister?: boolean }): Promise<void>;
}

export async function createVl3Endpoint(o: Vl3Config): Promise<Vl3Handle> {
  const { life, log, tokens, unlisten } = await basics(o);
  // one pool per IPAM service (address family); the first one names us in DNS
  const pools = o.prefixServerUrls.map(() => new Vl3Pool());
  const pool = pools[0]!;
  const ns = Netns.open(o.netnsPath ?? "/proc/self/ns/net");
  const undo: (() => Promise<unknown> | unknown)[] = [() => ns.close(), () => unlisten(), () => life.abort()];
  let dp: Vl3Datapath | undefined;
  const cleanup = async () => {
    for (const f of undo.reverse()) await closeQuietly("vl3", log, f);
  };
  try {
    // 1. the datapath (kernel: forwarding on; vpp: our VPP); our address S follows the prefix
    dp =
      o.datapath === "vpp"
        ? await vppVl3Datapath({
            ns,
            pool,
            service: o.services[0]!,
            log,
            apiSocket: o.vppApiSocket,
            // the sysctls are written to this process's netns: not when we route another (tests)
            sysctls: !o.netnsPath || o.netnsPath === "/proc/self/ns/net",
          })
        : kernelVl3Datapath(ns, pool, log, o.netnsUrl);
    undo.push(() => dp!.close());
    let selfs: string[] = [];
    const moveSelf = () => {
      if (!pools.every((p) => p.ready)) return;
      const was = selfs;
      selfs = pools.map((p) => p.selfAddr);
      dp!
        .setSelf(selfs, was)
        .catch((e: unknown) =>
          log.error({ err: messageOf(e), addrs: selfs }, "vl3: cannot put our address S in place"),
        );
    };
    for (const p of pools) p.subscribe(moveSelf);
    const subs = o.prefixServerUrls.map((url, i) =>
      subscribePrefix({ url, signal: life.signal, log, onPrefix: (p, ex) => pools[i]!.reset(p, ex) }),
    );
    const first = await Promise.race([
      Promise.all(subs.map((x) => x.first)),
      new Promise<never>((_, rej) =>
        life.signal.addEventListener("abort", () => rej(new Error("stopped before a prefix came")), { once: true }),
      ),
    ]);
    log.info({ prefix: first, self: pools.map((p) => p.selfAddr) }, "vl3: our prefix");

    // 2. DNS
    // a client healing to another endpoint gets another address: answers must not outlive that for long
    const records = new DnsRecords(VL3_DNS_TTL);
    const state = new Vl3DnsState(
      () => dp!.dnsIp(),
      () => (pool.ready ? pool.globalNet : undefined),
    );
    let dns: DnsServer | undefined;
    if (o.dnsListenOn !== "") {
      dns = await listenAndServe(
        o.dnsListenOn ?? ":53",
        dnsChain(
          dnsConfigs(() => state.peerConfigs()),
          noLoop(),
          noRecursion(),
          records.handler(),
          cache(),
          fanout(),
        ),
      );
      undo.push(() => dns!.close());
    }

    // 3. serve, register; then our links to the older peers
    const onIdle = () => {
      log.info({ idleTimeoutMs: o.idleTimeoutMs }, "vl3: no connections for the idle timeout, stopping");
      o.onIdle?.();
    };
    const mtu = vl3MtuServer();
    const nse = await createEndpoint({
      ...o,
      tokens,
      log,
      signal: life.signal,
      payload: payloads.IP,
      ipam: [
        ...(o.idleTimeoutMs ? [onIdleServer({ timeoutMs: o.idleTimeoutMs, signal: life.signal, onIdle })] : []),
        vl3DnsServer({ state, records, templates: o.dnsTemplates ?? [DEFAULT_DNS_TEMPLATE] }),
        mtu,
        ...pools.map((p) => vl3Server(p)),
      ],
      extra: dp.serverElements,
    });
    undo.push(() => nse.kill());
    const nsc = await createClient({
      name: o.name,
      signal: life.signal,
      log,
      tokens,
      nsmgrUrl: o.nsmgrUrl,
      dialTimeoutMs: o.dialTimeoutMs,
      netnsUrl: o.netnsUrl,
      heal: {
        keepEndpoint: true,
        ...(o.liveness
          ? {
              livenessCheck: dp.livenessCheck(),
              livenessIntervalMs: o.liveness.intervalMs,
              livenessTimeoutMs: o.liveness.timeoutMs,
            }
          : {}),
      },
      extra: [...pools.map((p) => vl3Client(p)), vl3DnsClient(state), ...dp.clientElements],
    });
    undo.push(() => nsc.close());
    const peers = new Map<string, Connection>();
    const service = o.services[0]!;
    const mine = nse.registration.initialRegistrationTime;
    const older = (
      await findNses(
        {
          nse: nseRegistryClient({ url: o.nsmgrUrl, signal: life.signal, log }),
          ns: { find: () => (async function* () {})() },
        },
        { networkServiceNames: [service] },
        newCtx({ timeoutMs: 15_000, signal: life.signal }),
      )
    )
      .filter((x) => x.name !== o.name)
      .filter((x) => !mine || !x.initialRegistrationTime || timeOf(x.initialRegistrationTime) <= timeOf(mine));
    log.info({ peers: older.map((x) => x.name) }, "vl3: connecting to the endpoints registered before us");
    let n = 0;
    const linking = new AbortController();
    life.signal.addEventListener("abort", () => linking.abort(), { once: true });
    const connectTo = async (peer: string) => {
      const req = requestFromNsUrl(parseNsUrl(`kernel://${service}/vl3p${n++}`), `${o.name}-${peer}`, {
        netnsUrl: o.netnsUrl,
      });
      req.connection ??= create(ConnectionSchema);
      req.connection.networkServiceEndpointName = peer;
      req.connection.labels = { ...req.connection.labels, ...(o.requestLabels ?? {}) };
      for (let attempt = 1; !linking.signal.aborted; attempt++) {
        try {
          const c = await nsc.client.request(
            create(NetworkServiceRequestSchema, req),
            newCtx({ timeoutMs: o.requestTimeoutMs ?? 15_000, signal: linking.signal, log }),
          );
          peers.set(peer, c);
          log.info({ peer, ip: c.context?.ipContext?.srcIpAddrs }, `vl3: linked to peer ${peer}`);
          return;
        } catch (e) {
          log.warn({ peer, attempt, err: messageOf(e) }, "vl3: link to peer failed, retrying");
          await new Promise((r) => setTimeout(r, Math.min(2000, 200 * attempt)));
        }
      }
    };
    // in the background: a peer whose registration outlived it must not hold our startup
    void Promise.all(older.map((x) => connectTo(x.name)));
    const closePeers = async () => {
      await Promise.all(
        [...peers.values()].map((c) => nsc.client.close(c, newCtx({ timeoutMs: 1000 })).catch(() => undefined)),
      );
    };
    return {
      nse,
      pool,
      pools,
      records,
      peers,
      dnsIp: () => dp!.dnsIp(),
      close: async (c = {}) => {
        linking.abort(); // ends the link attempts still retrying
        await closeQuietly("peer links", log, closePeers, 2000);
        await closeQuietly("endpoint", log, () => nse.close(c));
        await cleanup();
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

const timeOf = (t: { seconds: bigint; nanos: number }) => Number(t.seconds) * 1000 + t.nanos / 1e6;
