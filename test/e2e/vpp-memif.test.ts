/**
 * MEMIF toward the NSE through a real VPP 24.10: the forwarder (vpp backend, VPP in a "node"
 * netns) offers the NSE only MEMIF; the NSE's memif app is our MemifPort (master, in the NSE's
 * netns, at the socket the NSE's mechanism names) answering ARP and ICMP echo; VPP's memif
 * connects to it as slave. KERNEL→MEMIF (IP and ETHERNET payload) and MEMIF→MEMIF; Close leaves
 * VPP with no interface or memif socket of ours. Root only; skipped when VPP is not installed.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { memif, payload as payloads } from "../../src/api/index.js";
import { metaKey, type ServerElement } from "../../src/core/index.js";
import { MemifPort } from "../../src/datapath/memif.js";
import { ours, pingUntil, workloads } from "../helpers/workloads.js";
import { vppctl, vppNode, vppSkip } from "../helpers/vpp.js";

const skip = vppSkip;
if (skip) console.log(`# vpp-memif: skipped: ${skip}`);

// ---- packets ---------------------------------------------------------------------------------
const APP_MAC = Buffer.from([0x02, 0, 0, 0, 0x7e, 0x01]);
function csum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length % 2) s += b[b.length - 1]! << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}
const ip4 = (s: string) => Buffer.from(s.split("/")[0]!.split(".").map(Number));

/** An IPv4 ICMP echo request → its reply (addresses swapped), else undefined. */
function echoReply(p: Buffer): Buffer | undefined {
  if (p.length < 28 || p[0]! >> 4 !== 4 || p[9] !== 1) return undefined;
  p = p.subarray(0, p.readUInt16BE(2)); // an Ethernet frame may be padded
  const hl = (p[0]! & 0xf) * 4;
  if (p[hl] !== 8) return undefined;
  const r = Buffer.from(p);
  p.copy(r, 12, 16, 20);
  p.copy(r, 16, 12, 16);
  r[8] = 64;
  r.writeUInt16BE(0, 10);
  r.writeUInt16BE(csum(r.subarray(0, hl)), 10);
  r[hl] = 0;
  r.writeUInt16BE(0, hl + 2);
  r.writeUInt16BE(csum(r.subarray(hl)), hl + 2);
  return r;
}

/** What the NSE's app answers: ICMP echo (IP mode: raw IPv4), plus ARP requests (ETHERNET mode). */
function answer(f: Buffer, ip: boolean): Buffer | undefined {
  if (ip) return echoReply(f);
  const type = f.readUInt16BE(12);
  const eth = (dst: Buffer, body: Buffer) => {
    const h = Buffer.alloc(14);
    dst.copy(h, 0);
    APP_MAC.copy(h, 6);
    h.writeUInt16BE(type, 12);
    return Buffer.concat([h, body]);
  };
  if (type === 0x0806 && f.readUInt16BE(20) === 1) {
    const a = Buffer.from(f.subarray(14, 42));
    a.writeUInt16BE(2, 6);
    f.copy(a, 18, 22, 32); // target = the asker (sha + spa)
    APP_MAC.copy(a, 8);
    f.copy(a, 14, 38, 42); // we are whom it asked for
    return eth(f.subarray(6, 12), a);
  }
  if (type === 0x0800) {
    const r = echoReply(f.subarray(14));
    return r && eth(f.subarray(6, 12), r);
  }
  return undefined;
}

/** A memif app answering on `port` until it closes. */
function respond(port: MemifPort, ip: boolean): void {
  const drain = () => {
    if (port.closed) return clearInterval(timer);
    const out = port
      .recv(64)
      .map((f) => answer(f, ip))
      .filter((f): f is Buffer => !!f);
    if (out.length) port.send(out);
  };
  port.on("rx", drain);
  const timer = setInterval(drain, 5);
  timer.unref();
}

/**
 * The NSE's memif app for MEMIF connections: a memif master at the socket the endpoint's
 * mechanism names, in the netns it names, answering ARP/ICMP; closed on Close.
 */
function memifApp(apps: Map<string, MemifPort>): ServerElement {
  const ID = metaKey<string>("test/vpp-memif-app");
  return {
    async request(req, ctx, next) {
      const m = req.connection?.mechanism;
      if (m?.type === memif.MECHANISM && !ctx.meta.get(ID)) {
        const ip = req.connection!.payload !== payloads.ETHERNET;
        const port = MemifPort.open({
          role: "server",
          socket: memif.socketFileOf(m)!,
          netns: memif.inodeUrlOf(m)!.slice("file://".length),
          payload: ip ? "ip" : "ethernet",
          name: "nse-app",
        });
        respond(port, ip);
        apps.set(req.connection!.id, port);
        ctx.meta.set(ID, req.connection!.id);
      }
      return next.request(req, ctx);
    },
    async close(conn, ctx, next) {
      const id = ctx.meta.get(ID);
      if (id) {
        apps.get(id)?.close();
        apps.delete(id);
        ctx.meta.delete(ID);
      }
      return next.close(conn, ctx);
    },
  };
}

async function rig(t: TestContext, o: { cidr: string; payload: "IP" | "ETHERNET" }) {
  const { sb, h, vpp, mgr, backend, tagged } = await vppNode(t, "nsm-vm-", { endpointMechanisms: ["MEMIF"] });
  const apps = new Map<string, MemifPort>();
  sb.cleanup.push("nse app ports", () => {
    for (const p of apps.values()) p.close();
  });
  const w = await workloads(h, { nsmgrUrl: mgr.url, cidr: o.cidr, payload: o.payload, extra: [memifApp(apps)] });
  /** the memif sockets in VPP's table with upstream's per-connection name (not VPP's default one) */
  const ourSockets = () =>
    vppctl(vpp, "show memif")
      .split("\n")
      .filter((l) => /^\s*\d+\s+(yes|no)\s+.*\/memif\.socket/.test(l));
  const clean = async () => {
    assert.deepEqual(await tagged(), [], "no VPP interface of ours");
    assert.deepEqual(ourSockets(), [], "no memif socket of ours in VPP");
    assert.equal(apps.size, 0, "the NSE app saw the Close");
    assert.deepEqual(await ours(w.nsc.ns), []);
    assert.equal(backend.records.size, 0);
  };
  return { ...w, backend, vpp, apps, tagged, ourSockets, clean };
}

for (const payload of ["IP", "ETHERNET"] as const) {
  test(
    `vpp local KERNEL→MEMIF ${payload}: the NSC's kernel pings the NSE's memif app through VPP's memif slave (${payload === "IP" ? "IP mode, l3xc" : "ETHERNET mode, l2 xconnect"}); Close leaves VPP clean`,
    { skip, timeout: 90_000 },
    async (t) => {
      const [nse, pre] = payload === "IP" ? ["172.16.11.100", "172.16.11"] : ["172.16.12.100", "172.16.12"];
      const r = await rig(t, { cidr: `${pre}.100/31`, payload });
      for (const id of ["nsc-0", "nsc-1"]) {
        const conn = await r.request(id);
        assert.equal(conn.mechanism?.type, "KERNEL");
        const mine = await r.tagged();
        assert.deepEqual(mine.map((i) => i.interface_dev_type).sort(), ["af-packet", "memif"]);
        assert.equal(r.ourSockets().length, 1, "one memif socket: the NSE's, in its netns");
        const [app] = [...r.apps.values()];
        assert.ok(app, "the NSE got a MEMIF connection");
        // VPP's slave connects on its own schedule: ping until the echo comes back
        await pingUntil(r.nsc.name, nse, 20_000);
        assert.equal(app.up, true);
        assert.ok(app.stats().rxPackets > 0 && app.stats().txPackets > 0, JSON.stringify(app.stats()));
        const seg = (await r.request(id, undefined, conn)).path!.pathSegments.find((s) => s.name === "fwd");
        assert.match(seg?.metrics["client_interface"] ?? "", /^MEMIF\/memif\d+\/\d+$/);
        assert.ok(Number(seg?.metrics["client_rx_packets"]) > 0, JSON.stringify(seg?.metrics));
        await r.close(conn);
        await r.clean();
      }
    },
  );
}

test(
  "vpp local MEMIF→MEMIF IP: the NSC's memif app and the NSE's memif app exchange an echo through VPP (master toward the NSC, slave toward the NSE); Close leaves VPP clean",
  { skip, timeout: 90_000 },
  async (t) => {
    const r = await rig(t, { cidr: "172.16.13.100/31", payload: "IP" });
    const conn = await r.request("nsc-0", "memif://icmp/nsm-1");
    assert.equal(conn.mechanism?.type, "MEMIF");
    const port = MemifPort.open({
      role: "client",
      socket: memif.socketFileOf(conn.mechanism)!,
      netns: `/run/netns/${r.nsc.name}`,
      payload: "ip",
      reconnectMs: 50,
    });
    t.after(() => port.close());
    await port.waitUp({ timeoutMs: 10_000 });
    const mine = await r.tagged();
    assert.deepEqual(
      mine.map((i) => i.interface_dev_type),
      ["memif", "memif"],
    );
    assert.equal(r.ourSockets().length, 2, "VPP's master socket in the NSC's netns, its slave's in the NSE's");
    const echo = (seq: number) => {
      const icmp = Buffer.alloc(40, 0xab);
      icmp.writeUInt32BE(0x08000000, 0);
      icmp.writeUInt16BE(0x4242, 4);
      icmp.writeUInt16BE(seq, 6);
      icmp.writeUInt16BE(csum(icmp), 2);
      const h = Buffer.alloc(20);
      h[0] = 0x45;
      h.writeUInt16BE(60, 2);
      h[8] = 64;
      h[9] = 1;
      ip4("172.16.13.101").copy(h, 12);
      ip4("172.16.13.100").copy(h, 16);
      h.writeUInt16BE(csum(h), 10);
      return Buffer.concat([h, icmp]);
    };
    let reply: Buffer | undefined;
    for (let seq = 1; seq <= 60 && !reply; seq++) {
      port.send([echo(seq)]);
      const got = await port.receive(1, { timeoutMs: 500, partial: true });
      reply = got.find((p) => p[9] === 1 && p[20] === 0 && p.subarray(12, 16).equals(ip4("172.16.13.100")));
    }
    assert.ok(reply, "the NSE's memif app answered through VPP");
    await r.close(conn);
    await r.clean();
  },
);
