/**
 * The memif datapath backend in-process: nsmgr, forwarder (memif backend, its veth ends in a
 * "node" netns), NSE and NSC as components of this process over unix sockets; the NSC and the NSE
 * live in fresh namespaces named to the forwarder by `file:///run/netns/<name>`. The NSC's app is
 * our own MemifPort (client role) opened with the parameters the Request returned. Root only.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memif, type Connection } from "../../src/api/index.js";
import { backendFor, readConfig } from "../../src/cmd/forwarder.js";
import { kernelBackend } from "../../src/forwarder/backends/kernel/index.js";
import { memifBackend, type MemifBackend } from "../../src/forwarder/backends/memif/index.js";
import type { DatapathBackend } from "../../src/forwarder/backend.js";
import { silentLogger } from "../../src/tools/log.js";
import { MemifPort } from "../../src/datapath/memif.js";
import { rootSkip, sandbox as dpSandbox } from "../../src/datapath/testing/index.js";
import { createForwarder } from "../../src/networkservice/components.js";
import { csum, ip4, memifNseApp } from "../helpers/memif-nse.js";
import { harness, nsmgr, workloads } from "../helpers/workloads.js";

const fdCount = (): number => readdirSync("/proc/self/fd").length;
const memifMaps = (): number =>
  readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((l) => l.includes("memif")).length;

// ---- frames ----------------------------------------------------------------------------------
const mac = (s: string) => Buffer.from(s.split(":").map((h) => parseInt(h, 16)));
const macStr = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
const BCAST = "ff:ff:ff:ff:ff:ff";
const eth = (dst: string, src: string, type: number, payload: Buffer) => {
  const h = Buffer.alloc(14);
  mac(dst).copy(h, 0);
  mac(src).copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
};
function arp(op: 1 | 2, sha: string, spa: string, tha: string, tpa: string): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(0x0800, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(op, 6);
  mac(sha).copy(a, 8);
  ip4(spa).copy(a, 14);
  mac(tha).copy(a, 18);
  ip4(tpa).copy(a, 24);
  return a;
}
function icmpEcho(src: string, dst: string, id: number, seq: number): Buffer {
  const icmp = Buffer.alloc(8 + 32, 0xab);
  icmp[0] = 8;
  icmp[1] = 0;
  icmp.writeUInt16BE(0, 2);
  icmp.writeUInt16BE(id, 4);
  icmp.writeUInt16BE(seq, 6);
  icmp.writeUInt16BE(csum(icmp), 2);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + icmp.length, 2);
  ip[8] = 64;
  ip[9] = 1;
  ip4(src).copy(ip, 12);
  ip4(dst).copy(ip, 16);
  ip.writeUInt16BE(csum(ip), 10);
  return Buffer.concat([ip, icmp]);
}

/**
 * Receives on `port` until `match` returns a value; answers ARP requests for `me` on the way
 * (the NSE's kernel asks for our MAC before it replies).
 */
async function expect<T>(
  port: MemifPort,
  me: { mac: string; ip: string },
  match: (f: Buffer) => T | undefined,
  ms = 5000,
): Promise<T> {
  const deadline = Date.now() + ms;
  const seen: string[] = [];
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0)
      throw new Error(`no matching frame in ${ms} ms; saw ${seen.length}: ${seen.slice(0, 8).join(" | ")}`);
    const frames = await port.receive(1, { timeoutMs: left, partial: true });
    for (const f of frames) {
      const r = match(f);
      if (r !== undefined) return r;
      const type = f.readUInt16BE(12);
      seen.push(`${macStr(f.subarray(6, 12))}→${macStr(f.subarray(0, 6))} 0x${type.toString(16)}`);
      if (type === 0x0806 && f.readUInt16BE(14 + 6) === 1 && f.subarray(14 + 24, 14 + 28).equals(ip4(me.ip))) {
        const sha = macStr(f.subarray(14 + 8, 14 + 14)),
          spa = [...f.subarray(14 + 14, 14 + 18)].join(".");
        port.send([eth(sha, me.mac, 0x0806, arp(2, me.mac, me.ip, sha, spa))]);
      }
    }
  }
}

// ---- rig -------------------------------------------------------------------------------------

async function rig(
  t: TestContext,
  o: { endpointMechanisms?: string[]; cidr: string; nseApp?: boolean; fallback?: DatapathBackend },
) {
  const sb = dpSandbox(t);
  const h = harness(sb, "nsm-mf-");
  const node = sb.netns(),
    nse = sb.netns(),
    nsc = sb.netns();
  const mgr = await nsmgr(h);
  const backend: MemifBackend = memifBackend({
    netns: `/run/netns/${node.name}`,
    endpointMechanisms: o.endpointMechanisms,
    fallback: o.fallback,
  });
  const fwd = await createForwarder({
    ...h.common,
    name: "fwd",
    listenOn: [h.sock("fwd")],
    nsmgrUrl: mgr.url,
    backend,
  });
  sb.cleanup.push("forwarder", () => fwd.close());
  const nseSide = new Map<string, MemifPort>();
  sb.cleanup.push("nse app ports", () => {
    for (const p of nseSide.values()) p.close();
  });
  const w = await workloads(h, {
    nsmgrUrl: mgr.url,
    cidr: o.cidr,
    extra: o.nseApp ? [memifNseApp(nseSide)] : [],
    nse,
    nsc,
  });
  const request = (id: string, conn?: Connection, url = "memif://icmp/nsm-1") => w.request(id, url, conn);
  const close = w.close;
  /** the NSC app: our memif client at the socket the forwarder returned */
  const nscApp = (c: Connection) => {
    const m = c.mechanism!;
    assert.equal(m.type, "MEMIF");
    const socket = memif.socketFileOf(m);
    assert.match(
      socket ?? "",
      new RegExp(`^@${tmpdir()}/memif/[^/]+/memif\\.socket$`),
      "upstream's abstract socket name",
    );
    assert.equal(memif.inodeUrlOf(m), `file:///run/netns/${nsc.name}`);
    const port = MemifPort.open({
      role: "client",
      socket: socket!,
      netns: `/run/netns/${nsc.name}`,
      reconnectMs: 50,
      name: "nsc-app",
    });
    sb.cleanup.push("nsc app port", () => port.close());
    return port;
  };
  return { sb, dir: h.dir, node, nse, nsc, backend, nseSide, request, close, nscApp };
}

async function until(pred: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 2));
}

const fwdSegment = (c: Connection) => c.path?.pathSegments.find((s) => s.name === "fwd");

// ---- tests -----------------------------------------------------------------------------------

test(
  "memif NSC reaches a kernel NSE through the forwarder: ARP + ICMP echo via memif↔AF_PACKET; Close removes everything",
  { skip: rootSkip, timeout: 30_000 },
  async (t) => {
    const r = await rig(t, { cidr: "172.16.7.100/31" });
    const cycle = async (id: string, extra: (c: Connection, port: MemifPort) => Promise<void> = async () => {}) => {
      const conn = await r.request(id);
      const port = r.nscApp(conn);
      await port.waitUp({ timeoutMs: 5000 });
      const me = { mac: "02:00:00:00:00:01", ip: conn.context!.ipContext!.srcIpAddrs[0]! };
      const nseIp = conn.context!.ipContext!.dstIpAddrs[0]!;
      // who has the NSE's address?
      port.send([eth(BCAST, me.mac, 0x0806, arp(1, me.mac, me.ip, "00:00:00:00:00:00", nseIp))]);
      const nseMac = await expect(port, me, (f) =>
        f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 2 && f.subarray(28, 32).equals(ip4(nseIp))
          ? macStr(f.subarray(22, 28))
          : undefined,
      );
      // the NSE's kernel interface is the one with that MAC, in the NSE's netns, with the NSE's address
      const nseLink = (await r.nse.ns.links()).find((l) => l.attrs.mac === nseMac);
      assert.ok(nseLink, `an interface with ${nseMac} in the NSE netns`);
      assert.deepEqual(
        (await r.nse.ns.addrs({ link: nseLink.attrs.name, family: 4 })).map((a) => a.cidr),
        [nseIp],
      );
      // ping
      for (let seq = 1; seq <= 3; seq++) {
        port.send([eth(nseMac, me.mac, 0x0800, icmpEcho(me.ip, nseIp, 0x4242, seq))]);
        await expect(port, me, (f) => {
          if (f.readUInt16BE(12) !== 0x0800 || f[14 + 9] !== 1) return undefined;
          const icmp = f.subarray(14 + (f[14]! & 0xf) * 4);
          return icmp[0] === 0 &&
            icmp.readUInt16BE(4) === 0x4242 &&
            icmp.readUInt16BE(6) === seq &&
            f.subarray(14 + 12, 14 + 16).equals(ip4(nseIp))
            ? true
            : undefined;
        });
      }
      await extra(conn, port);
      await r.close(conn);
      assert.equal(r.backend.connections.size, 0);
      assert.deepEqual(
        (await r.node.ns.links()).filter((l) => l.attrs.name.startsWith("mf")).map((l) => l.attrs.name),
        [],
        "our veth ends are gone",
      );
      assert.deepEqual(
        (await r.nse.ns.links()).filter((l) => l.attrs.alias?.startsWith("nsm:")).map((l) => l.attrs.name),
        [],
        "the NSE's interface is gone",
      );
      assert.equal(await port.waitDown({ timeoutMs: 5000 }).then(() => port.up), false, "the NSC app's link went down");
      port.close();
    };
    // first cycle warms grpc channels up; the second must give back every fd and mapping
    await cycle("nsc-k-0", async (conn, port) => {
      // counters are bumped right after the ring is published: let the loop's thread finish its burst
      const stats = () => r.backend.stats([...r.backend.connections.keys()][0]!)!;
      await until(() => stats().client.txPackets >= 4 && stats().endpoint.txPackets >= 4, 1000);
      const s = stats();
      assert.ok(
        s.client.rxPackets >= 4 && s.client.txPackets >= 4,
        `memif side counted both ways: ${JSON.stringify(s.client)}`,
      );
      assert.ok(
        s.endpoint.rxPackets >= 4 && s.endpoint.txPackets >= 4,
        `AF_PACKET side counted both ways: ${JSON.stringify(s.endpoint)}`,
      );
      // a refresh keeps the socket and reports the counters in our path segment's metrics
      const again = await r.request(conn.id, conn);
      assert.equal(memif.socketFileOf(again.mechanism), memif.socketFileOf(conn.mechanism));
      assert.equal(port.up, true, "a refresh does not disturb the link");
      const m = fwdSegment(again)?.metrics ?? {};
      assert.ok(Number(m.server_rx_packets) >= 4 && Number(m.client_tx_packets) >= 4, `metrics: ${JSON.stringify(m)}`);
      assert.match(m.server_interface ?? "", /^MEMIF\/@/);
      assert.match(m.client_interface ?? "", /^AF_PACKET\/mf/);
    });
    const fds = fdCount();
    await cycle("nsc-k-1");
    assert.equal(memifMaps(), 0, "no memif region mapped");
    assert.equal(fdCount(), fds, "fd count back to the start");
  },
);

test(
  "memif NSC ↔ memif NSE through the forwarder: frames cross both ways; Close removes everything",
  { skip: rootSkip, timeout: 30_000 },
  async (t) => {
    const r = await rig(t, { cidr: "172.16.8.100/31", endpointMechanisms: ["MEMIF"], nseApp: true });
    const cycle = async (id: string) => {
      const conn = await r.request(id);
      assert.equal(r.nseSide.size, 1, "the NSE app got a MEMIF connection");
      const fwdPort = [...r.backend.connections.values()][0]!.endpoint.port as MemifPort;
      assert.equal(fwdPort.up, true, "the forwarder's memif client is connected when Request returns");
      // the NSE app learns of the link through its own event, which may land just after the Request returns
      const nsePort = [...r.nseSide.values()][0]!;
      await nsePort.waitUp({ timeoutMs: 1000 });
      const port = r.nscApp(conn);
      await port.waitUp({ timeoutMs: 5000 });
      const frames = (tag: string) =>
        Array.from({ length: 8 }, (_, i) =>
          eth("02:00:00:00:00:02", "02:00:00:00:00:01", 0x88b5, Buffer.from(`${tag} ${i} `.padEnd(100, "."))),
        );
      assert.equal(port.send(frames("nsc→nse")), 8);
      assert.deepEqual(
        (await nsePort.receive(8, { timeoutMs: 5000 })).map((f) => f.toString("latin1")),
        frames("nsc→nse").map((f) => f.toString("latin1")),
      );
      assert.equal(nsePort.send(frames("nse→nsc")), 8);
      assert.deepEqual(
        (await port.receive(8, { timeoutMs: 5000 })).map((f) => f.toString("latin1")),
        frames("nse→nsc").map((f) => f.toString("latin1")),
      );
      const loop = () => r.backend.stats([...r.backend.connections.keys()][0]!)!.loop;
      await until(() => loop().aToB === 8 && loop().bToA === 8, 1000); // counted just after the burst is published
      assert.deepEqual([loop().aToB, loop().bToA], [8, 8]);
      await r.close(conn);
      assert.equal(r.backend.connections.size, 0);
      assert.equal(r.nseSide.size, 0, "the NSE app saw the Close");
      assert.equal(await port.waitDown({ timeoutMs: 5000 }).then(() => port.up), false);
      port.close();
    };
    await cycle("nsc-m-0");
    const fds = fdCount();
    await cycle("nsc-m-1");
    assert.equal(memifMaps(), 0, "no memif region mapped");
    assert.equal(fdCount(), fds, "fd count back to the start");
  },
);

test(
  "with the kernel backend as fallback: KERNEL↔KERNEL goes to it, MEMIF to us, in one forwarder; NSM_DATAPATH=memif builds that pair",
  { skip: rootSkip, timeout: 30_000 },
  async (t) => {
    const kb = await kernelBackend();
    const r = await rig(t, { cidr: "172.16.9.0/29", fallback: kb });
    const k = await r.request("nsc-f-0", undefined, "kernel://icmp/nsm-1");
    assert.equal(k.mechanism?.type, "KERNEL");
    assert.equal(kb.records.size, 1, "the kernel backend plumbed the kernel connection");
    assert.equal(r.backend.connections.size, 0);
    assert.ok(
      (await r.nsc.ns.links()).some((l) => l.attrs.name === "nsm-1" && l.kind === "veth"),
      "a veth named nsm-1 in the NSC netns",
    );
    const m = await r.request("nsc-f-1");
    assert.equal(m.mechanism?.type, "MEMIF");
    assert.equal(r.backend.connections.size, 1);
    assert.equal(kb.records.size, 1);
    const port = r.nscApp(m);
    await port.waitUp({ timeoutMs: 5000 });
    await r.close(m);
    await r.close(k);
    await kb.idle();
    assert.equal(kb.records.size + r.backend.connections.size, 0);
    assert.deepEqual(
      (await r.nsc.ns.links()).filter((l) => l.attrs.alias?.startsWith("nsm:")).map((l) => l.attrs.name),
      [],
    );
    port.close();

    const b = await backendFor(
      readConfig({ NSM_DATAPATH: "memif", NSM_STATE_DIR: join(r.dir, "state") }),
      silentLogger,
    );
    try {
      assert.equal(b.name, "memif");
      assert.deepEqual([...b.mechanisms.local].sort(), ["KERNEL", "MEMIF"]);
      assert.ok(b.mechanisms.remote.includes("VXLAN"), "remote mechanisms come from the kernel backend");
    } finally {
      await b.close();
    }
  },
);
