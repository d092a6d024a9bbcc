/**
 * Several meshes as NSM domains on one host (`nsm up` with NSM_UP_DOMAINS, the interdomain e2e
 * tests). Domain k (0-based) is a mesh with its own fabric 198.18.<k+1>.0/24, registry, nodes,
 * nsmgr-proxy (.254:5004), registry-proxy-dns (.254:5005) and map-ip; a router netns `<id>-rt`
 * joins the fabrics over a bridge (198.19.0.0/24: the router is .254, fabric k is .<k+1>) and runs
 * a dnsmasq on 198.19.0.254:53 that serves, for each domain `domain<k+1>.nsm`, the SRV and A
 * records upstream looks up (`registry.nsm-system.<domain>`, `nsmgr-proxy.nsm-system.<domain>`).
 * With `floating`, one more domain holds only a registry (no nodes, no nsmgr-proxy), as upstream's
 * floating interdomain example. The first domain's state owns the rest: closing it (or
 * `nsm down`) removes every domain, the router and dnsmasq.
 *
 *   const d = await createDomains({ id: "t-42-0", dir: "/tmp/x", count: 2, floating: true });
 *   await d.meshes[1].startNse(0, { name: "nse", cidr: "172.16.1.100/31", services: [`svc@${d.names[1]}`] });
 *   await d.meshes[0].startNsc(0, { name: "nsc", services: [`kernel://svc@${d.names[1]}/nsm-1`] });
 *   await d.close();
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Netns } from "../datapath/netns.js";
import { NSMGR_PROXY_SERVICE, REGISTRY_SERVICE } from "../tools/dns/resolver.js";
import { startDnsmasq, type DnsRecord, type Dnsmasq } from "./dnsmasq.js";
import { createMesh } from "./fabric.js";
import { ipNetns } from "./processes.js";
import { NSMGR_PROXY_PORT, REGISTRY_PORT, saveState, type Mesh, type MeshOptions } from "./state.js";
import { destroyMesh } from "./teardown.js";

export const DNS_ZONE = "nsm";
export const ROUTER_PREFIX = "198.19.0";
export const domainName = (k: number) => `domain${k + 1}.${DNS_ZONE}`;
const prefixOf = (k: number) => `198.18.${k + 1}`;

export interface DomainsOptions extends Omit<MeshOptions, "prefix" | "interdomain" | "nodes"> {
  /** domains with nodes (≥ 1) */
  count: number;
  /** nodes per domain (default 1) */
  nodes?: number;
  /** add a registry-only domain (the last one) */
  floating?: boolean;
}

export interface Domains {
  /** the domains' meshes; with `floating`, the last one is the registry-only domain */
  readonly meshes: Mesh[];
  /** their domain names, same order */
  readonly names: string[];
  /** the DNS server every registry-proxy-dns asks (ip:port) */
  readonly dnsServer: string;
  readonly dnsmasq: Dnsmasq;
  readonly router: string;
  close(): Promise<void>;
}

const sysctl = (netns: string, kv: string) =>
  execFileSync("ip", ["netns", "exec", netns, "sysctl", "-qw", kv], { stdio: ["ignore", "ignore", "pipe"] });

export async function createDomains(o: DomainsOptions): Promise<Domains> {
  const total = o.count + (o.floating ? 1 : 0);
  const floatingAt = o.floating ? o.count : -1;
  const names = Array.from({ length: total }, (_, k) => domainName(k));
  const router = `${o.id}-rt`;
  const dnsServer = `${ROUTER_PREFIX}.254:53`;
  mkdirSync(o.dir, { recursive: true });
  const undo: (() => unknown)[] = [];
  const meshes: Mesh[] = [];
  try {
    o.progress?.(
      `router netns ${router} (${ROUTER_PREFIX}.254/24) and dnsmasq on ${dnsServer} for ${names.join(", ")}`,
    );
    ipNetns("add", router);
    undo.push(() => ipNetns("del", router));
    const rt = Netns.open({ name: router });
    try {
      await rt
        .batch()
        .linkSetUp("lo")
        .linkAdd({ kind: "bridge", attrs: { name: "br0", up: true } })
        .addrAdd({ link: "br0", cidr: `${ROUTER_PREFIX}.254/24` })
        .commit();
    } finally {
      rt.close();
    }
    sysctl(router, "net.ipv4.ip_forward=1");
    const records: DnsRecord[] = names.flatMap((d, k) => [
      { name: `${REGISTRY_SERVICE}.${d}`, ip: `${prefixOf(k)}.254`, port: REGISTRY_PORT },
      ...(k === floatingAt
        ? []
        : [{ name: `${NSMGR_PROXY_SERVICE}.${d}`, ip: `${prefixOf(k)}.254`, port: NSMGR_PROXY_PORT }]),
    ]);
    const dnsmasq = startDnsmasq({
      dir: o.dir,
      listen: `${ROUTER_PREFIX}.254`,
      port: 53,
      netns: router,
      zones: [DNS_ZONE],
      records,
      detached: o.detached ?? false,
    });
    undo.push(async () => {
      await dnsmasq.stop();
      rmSync(dnsmasq.conf, { force: true });
      rmSync(dnsmasq.log, { force: true });
    });

    // the domains come up side by side; the first one's state then takes over the rest
    const made = await Promise.allSettled(
      names.map((name, k) =>
        createMesh({
          startupWaitMs: 60_000,
          ...o,
          id: `${o.id}-d${k}`,
          dir: join(o.dir, `d${k}`),
          stateFile: k === 0 ? o.stateFile : undefined,
          nsmgrExtraListen: k === 0 ? o.nsmgrExtraListen : undefined,
          nodes: k === floatingAt ? 0 : (o.nodes ?? 1),
          prefix: prefixOf(k),
          ...(k === floatingAt ? {} : { interdomain: { domain: name, dnsServer } }),
          progress: o.progress && ((s) => o.progress!(`${name}: ${s}`)),
        }),
      ),
    );
    for (const r of made) if (r.status === "fulfilled") meshes.push(r.value);
    const failed = made.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      for (const m of meshes) await m.close().catch(() => undefined);
      meshes.length = 0;
      throw failed.reason;
    }
    undo.length = 0; // from here on the first domain's state owns everything
    const s0 = meshes[0]!.state;
    s0.linked = { netns: [router], dnsmasq: { pid: dnsmasq.pid, log: dnsmasq.log }, states: [], dir: o.dir };
    for (const m of meshes.slice(1)) s0.linked.states.push(m.state.stateFile);
    saveState(s0);
    for (const [k, m] of meshes.entries()) await join_(router, m, k);
    return {
      meshes,
      names,
      dnsServer,
      dnsmasq,
      router,
      close: () => meshes[0]!.close(),
    };
  } catch (e) {
    if (meshes[0]) await destroyMesh(meshes[0].state).catch(() => undefined);
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch {
        /* best effort */
      }
    }
    throw e;
  }
}

/** Fabric k ↔ router: a veth (router `d<k>` on its bridge, fabric `up0` at 198.19.0.<k+1>), routes both ways. */
async function join_(router: string, m: Mesh, k: number): Promise<void> {
  const rt = Netns.open({ name: router });
  const fab = Netns.open({ name: m.state.fabric });
  try {
    await rt
      .batch()
      .linkAdd({
        kind: "veth",
        attrs: { name: `d${k}`, up: true, master: "br0" },
        peer: { name: "up0", netns: fab, up: true },
      })
      .routeAdd({ dst: `${prefixOf(k)}.0/24`, via: `${ROUTER_PREFIX}.${k + 1}` })
      .commit();
    await fab
      .batch()
      .addrAdd({ link: "up0", cidr: `${ROUTER_PREFIX}.${k + 1}/24` })
      .routeAdd({ dst: "default", via: `${ROUTER_PREFIX}.254` })
      .commit();
  } finally {
    rt.close();
    fab.close();
  }
  sysctl(m.state.fabric, "net.ipv4.ip_forward=1");
}
