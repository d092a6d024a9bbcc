/** Making a mesh: the fabric and node namespaces, and its processes in them (see index.ts). */
import { execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Netns } from "../datapath/netns.js";
import {
  OVS_SH,
  FABRIC_PREFIX,
  REGISTRY_PORT,
  NSMGR_PORT,
  NSMGR_PROXY_PORT,
  REGISTRY_PROXY_PORT,
  saveState,
  type MeshState,
  type MeshOptions,
  type MeshProc,
  type Mesh,
} from "./state.js";
import { ipNetns, meshEnv, spawnIn } from "./processes.js";
import { destroyMesh } from "./teardown.js";
import { interdomainProcs } from "./interdomain.js";

export async function createMesh(o: MeshOptions): Promise<Mesh> {
  const nodes = o.nodes ?? 2;
  const prefix = o.prefix ?? FABRIC_PREFIX;
  const gw = `${prefix}.254`;
  const upMs = o.startupWaitMs ?? 20_000;
  mkdirSync(o.dir, { recursive: true });
  const state: MeshState = {
    id: o.id,
    dir: o.dir,
    stateFile: o.stateFile ?? join(o.dir, "mesh.json"),
    fabric: `${o.id}-fab`,
    netns: [],
    procs: [],
    files: [],
    nodes: [],
    registryUrl: `tcp://${gw}:${REGISTRY_PORT}`,
    ...(o.interdomain
      ? {
          interdomain: {
            domain: o.interdomain.domain,
            nsmgrProxyUrl: `tcp://${gw}:${NSMGR_PROXY_PORT}`,
            registryProxyUrl: `tcp://${gw}:${REGISTRY_PROXY_PORT}`,
          },
        }
      : {}),
    env: meshEnv(o),
  };
  saveState(state);
  const children = new Map<number, ChildProcess>();
  const procs = new Map<string, MeshProc>();
  let w = 0;
  const addNetns = (name: string) => {
    state.netns.push(name);
    saveState(state);
    ipNetns("add", name);
  };
  const start = (p: Parameters<typeof spawnIn>[2]) => {
    const pr = spawnIn(state, o, p, children);
    procs.set(p.name, pr);
    return pr;
  };
  const nodeEnv = (i: number) => ({ NSM_CONNECT_TO: `unix://${state.nodes[i]!.nsmgrSock}` });

  const close = async () => {
    await destroyMesh(state);
    for (const c of children.values()) c.kill("SIGKILL");
  };

  const spawnNsmgr = (i: number) => {
    const n = state.nodes[i]!;
    return start({
      name: `nsmgr-${i}`,
      role: "nsmgr",
      node: i,
      netns: n.netns,
      cmd: "nsmgr",
      env: {
        NSM_NAME: `nsmgr-${i}`,
        NSM_LISTEN_ON: [`unix://${n.nsmgrSock}`, n.nsmgrUrl, ...(o.nsmgrExtraListen?.(i) ?? [])].join(","),
        NSM_REGISTRY_URL: state.registryUrl,
      },
    });
  };

  const startForwarder = async (i: number) => {
    const n = state.nodes[i]!;
    const f = start({
      name: `forwarder-${i}`,
      role: "forwarder",
      node: i,
      netns: n.netns,
      cmd: "forwarder",
      env: {
        ...nodeEnv(i),
        NSM_NAME: `forwarder-${i}`,
        NSM_LISTEN_ON: `unix://${join(o.dir, `forwarder-${i}.sock`)}`,
        NSM_DATAPATH: o.datapath ?? "kernel",
        ...(o.datapath === "ovs"
          ? {
              NSM_OVS_DB: `unix:${join(o.dir, `ovs-${i}`, "db.sock")}`,
              OVS_RUNDIR: join(o.dir, `ovs-${i}`),
              NSM_OVS_UPLINK: "eth0",
            }
          : {}),
        NSM_TUNNEL_IP: n.ip,
        NSM_STATE_DIR: n.forwarderStateDir,
        NSM_STALE_TIMEOUT: o.forwarderStaleTimeout ?? "30s",
      },
    });
    const from = f.output().length;
    await f.waitFor(/Startup completed/, upMs, from);
    return f;
  };

  try {
    // fabric: a bridge with the registry's address; one veth per node, the node end born in the node netns
    o.progress?.(`namespaces: fabric ${state.fabric} and ${nodes} node(s), joined by veth pairs to a bridge`);
    addNetns(state.fabric);
    const fab = Netns.open({ name: state.fabric });
    try {
      await fab
        .batch()
        .linkSetUp("lo")
        .linkAdd({ kind: "bridge", attrs: { name: "br0", up: true } })
        .addrAdd({ link: "br0", cidr: `${gw}/24` })
        .commit();
      for (let i = 0; i < nodes; i++) {
        const netns = `${o.id}-n${i}`;
        addNetns(netns);
        const ip = `${prefix}.${i + 1}`;
        const ns = Netns.open({ name: netns });
        try {
          await fab
            .batch()
            .linkAdd({
              kind: "veth",
              attrs: { name: `n${i}`, up: true, master: "br0" },
              peer: { name: "eth0", netns: ns, up: true },
            })
            .commit();
          const b = ns
            .batch()
            .linkSetUp("lo")
            .addrAdd({ link: "eth0", cidr: `${ip}/24` });
          // other domains are reached through the fabric (which routes to the domains' router)
          if (o.interdomain) b.routeAdd({ dst: "default", via: gw });
          await b.commit();
        } finally {
          ns.close();
        }
        state.nodes.push({
          netns,
          ip,
          nsmgrUrl: `tcp://${ip}:${NSMGR_PORT}`,
          nsmgrSock: join(o.dir, `nsmgr-${i}.sock`),
          forwarderStateDir: join(o.dir, `forwarder-${i}-state`),
        });
      }
    } finally {
      fab.close();
    }
    saveState(state);

    o.progress?.(`registry on ${state.registryUrl}`);
    const reg = start({
      name: "registry",
      role: "registry",
      netns: state.fabric,
      cmd: "registry",
      env: {
        NSM_LISTEN_ON: `tcp://${gw}:${REGISTRY_PORT}`,
        NSM_EXPIRE_PERIOD: "1m",
        ...(state.interdomain ? { NSM_PROXY_REGISTRY_URL: state.interdomain.nsmgrProxyUrl } : {}),
      },
    });
    await reg.waitFor(/Startup completed/, upMs);
    // the interdomain processes start beside the nsmgrs (nothing of theirs is needed before a request)
    let gateways: Promise<unknown> = Promise.resolve();
    if (o.interdomain && state.interdomain) {
      o.progress?.(`interdomain: map-ip, registry-proxy-dns and nsmgr-proxy on ${gw} (domain ${o.interdomain.domain})`);
      gateways = Promise.all(
        interdomainProcs(state, o.interdomain.dnsServer, o.dir).map((p) => start(p).waitFor(/Startup completed/, upMs)),
      );
      gateways.catch(() => undefined); // awaited below
    }
    o.progress?.(`nsmgr on each node (${state.nodes.map((n) => n.nsmgrUrl).join(", ")})`);
    const mgrs = state.nodes.map((n, i) => {
      for (const u of o.nsmgrExtraListen?.(i) ?? [])
        if (u.startsWith("unix://")) {
          state.files.push(u.slice("unix://".length));
        }
      return spawnNsmgr(i);
    });
    saveState(state);
    await Promise.all([gateways, ...mgrs.map((m) => m.waitFor(/Startup completed/, upMs))]);
    if (o.datapath === "ovs") {
      for (const [i, n] of state.nodes.entries()) {
        const d = join(o.dir, `ovs-${i}`);
        (state.ovsDirs ??= []).push(d);
        saveState(state);
        execFileSync(OVS_SH, ["start", d, n.netns], { stdio: ["ignore", "ignore", "pipe"] });
      }
    }
    o.progress?.(`forwarder on each node (${o.datapath ?? "kernel"} datapath)`);
    await Promise.all(state.nodes.map((_, i) => startForwarder(i)));
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }

  const workloadNetns = async () => {
    const name = `${o.id}-w${w++}`;
    addNetns(name);
    const ns = Netns.open({ name });
    try {
      await ns.linkSet("lo", { up: true });
    } finally {
      ns.close();
    }
    return name;
  };

  const restart = async (name: string, r: { env?: Record<string, string>; waitMs?: number } = {}) => {
    const was = state.procs.find((x) => x.name === name);
    if (!was?.spec) throw new Error(`mesh: no process named ${name}`);
    const p = start({
      name,
      role: was.role,
      ...(was.node !== undefined ? { node: was.node } : {}),
      netns: was.netns,
      cmd: was.spec.cmd,
      env: { ...was.spec.env, ...r.env },
    });
    if (was.role !== "nsc") await p.waitFor(/Startup completed/, r.waitMs ?? upMs, p.output().length);
    return p;
  };

  return {
    state,
    procs,
    workloadNetns,
    close,
    startForwarder,
    async startNsmgr(i) {
      return restart(`nsmgr-${i}`);
    },
    restart,
    async startNse(node, e) {
      const workload = await workloadNetns();
      const p = start({
        name: e.name,
        role: "nse",
        node,
        netns: workload,
        cmd: "nse-icmp-responder",
        env: {
          ...nodeEnv(node),
          NSM_NAME: e.name,
          NSM_CIDR_PREFIX: e.cidr,
          NSM_SERVICE_NAMES: (e.services ?? ["icmp-responder"]).join(","),
          NSM_LISTEN_ON: `unix://${join(o.dir, `${e.name}.sock`)}`,
          ...(e.labels ? { NSM_LABELS: e.labels } : {}),
          ...(e.payload ? { NSM_PAYLOAD: e.payload } : {}),
          ...e.env,
        },
      });
      await p.waitFor(/Startup completed/, upMs);
      return Object.assign(p, { workload });
    },
    async startIpam(i) {
      const url = `unix://${join(o.dir, "ipam-vl3.sock")}`;
      const p = start({
        name: "ipam-vl3",
        role: "ipam",
        netns: state.fabric,
        cmd: "ipam-vl3",
        env: { NSM_LISTEN_ON: url, NSM_PREFIX: i.prefix, NSM_CLIENT_PREFIX_LEN: String(i.clientPrefixLen ?? 24) },
      });
      await p.waitFor(/Startup completed/);
      return Object.assign(p, { url });
    },
    async startVl3Nse(node, e) {
      const workload = await workloadNetns();
      const p = start({
        name: e.name,
        role: "nse",
        node,
        netns: workload,
        cmd: "nse-vl3",
        env: {
          ...nodeEnv(node),
          NSM_NAME: e.name,
          NSM_SERVICE_NAMES: (e.services ?? ["vl3"]).join(","),
          NSM_LISTEN_ON: `unix://${join(o.dir, `${e.name}.sock`)}`,
          NSM_PREFIX_SERVER_URL: e.prefixServerUrl,
          ...e.env,
        },
      });
      await p.waitFor(/Startup completed/, 30_000);
      return Object.assign(p, { workload });
    },
    async startNsc(node, c) {
      const workload = c.netns ?? (await workloadNetns());
      const p = start({
        name: c.name,
        role: "nsc",
        node,
        netns: workload,
        cmd: "nsc",
        env: {
          ...nodeEnv(node),
          NSM_NAME: c.name,
          NSM_NETWORK_SERVICES: c.services.join(","),
          NSM_LOCAL_DNS_SERVER_ENABLED: "false",
          NSM_LIVENESS_CHECK_ENABLED: "false",
          ...c.env,
        },
      });
      return Object.assign(p, { workload });
    },
  };
}
