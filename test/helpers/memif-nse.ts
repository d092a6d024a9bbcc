/**
 * The NSE's memif app for tests whose forwarder offers the NSE MEMIF: a chain element that opens
 * our MemifPort as master at the socket the endpoint's mechanism names, in the netns it names,
 * with the connection's payload (IP → "ip", else "ethernet"); with `answer` it replies to ARP
 * requests and ICMP echo on that port; closed on Close.
 *
 *   const apps = new Map<string, MemifPort>();
 *   await workloads(h, { ..., extra: [memifNseApp(apps, { answer: true })] });
 */
import { memif, payload as payloads } from "../../src/api/index.js";
import { metaKey, type ServerElement } from "../../src/core/index.js";
import { MemifPort } from "../../src/datapath/memif.js";

/** the MAC the app answers ARP with (ETHERNET payload) */
const APP_MAC = Buffer.from([0x02, 0, 0, 0, 0x7e, 0x01]);

/** The Internet checksum of `b`. */
export function csum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length % 2) s += b[b.length - 1]! << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

/** "10.0.0.1" or "10.0.0.1/32" → its 4 bytes. */
export const ip4 = (s: string) => Buffer.from(s.split("/")[0]!.split(".").map(Number));

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

/** What the app answers: ICMP echo (IP mode: raw IPv4), plus ARP requests (ETHERNET mode). */
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

/** Answers on `port` until it closes. */
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
 * The NSE's memif app element: for each MEMIF connection a port in `ports` under the connection
 * id, removed and closed on Close. `answer`: reply to ARP/ICMP echo (else the test reads the
 * port itself); `listenAfterMs`: open the port that long after the Request came (an app slow to
 * listen).
 */
export function memifNseApp(
  ports: Map<string, MemifPort>,
  o: { answer?: boolean; listenAfterMs?: number } = {},
): ServerElement {
  const ID = metaKey<string>("test/memif-nse-app");
  const pending = new Map<string, NodeJS.Timeout>();
  return {
    async request(req, ctx, next) {
      const m = req.connection?.mechanism;
      if (m?.type === memif.MECHANISM && !ctx.meta.get(ID)) {
        const id = req.connection!.id;
        const ip = req.connection!.payload !== payloads.ETHERNET;
        const open = () => {
          pending.delete(id);
          const port = MemifPort.open({
            role: "server",
            socket: memif.socketFileOf(m)!,
            netns: memif.inodeUrlOf(m)!.slice("file://".length),
            payload: ip ? "ip" : "ethernet",
            name: "nse-app",
          });
          if (o.answer) respond(port, ip);
          ports.set(id, port);
        };
        if (o.listenAfterMs === undefined) open();
        else pending.set(id, setTimeout(open, o.listenAfterMs));
        ctx.meta.set(ID, id);
      }
      return next.request(req, ctx);
    },
    async close(conn, ctx, next) {
      const id = ctx.meta.get(ID);
      if (id) {
        clearTimeout(pending.get(id));
        pending.delete(id);
        ports.get(id)?.close();
        ports.delete(id);
        ctx.meta.delete(ID);
      }
      return next.close(conn, ctx);
    },
  };
}
