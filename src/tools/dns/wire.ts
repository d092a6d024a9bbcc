/**
 * DNS over UDP and TCP with the `dns-packet` codec (never hand-written wire format): a server
 * that serves a handler on both transports at one address, and a one-query client.
 *
 *   const srv = await listenAndServe("127.0.0.1:0", async (m) => answerFor(m));
 *   const reply = await query("udp://127.0.0.1:" + srv.port, { type: "query", id: 1, questions: [{ type: "A", name: "x." }] });
 */
import dgram from "node:dgram";
import net from "node:net";
import { isIPv6 } from "node:net";
import dnsPacket, { type Packet } from "dns-packet";

export type { Packet };
/** answers a query, or undefined for no answer (the server then says SERVFAIL) */
export type Serve = (msg: Packet) => Promise<Packet | undefined>;

export const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;
export const rcodeOf = (m: Packet): number => (m.flags ?? 0) & 0xf;

/** a reply to `msg` with rcode `rcode` and no records */
export function replyTo(msg: Packet, rcode: number, answers: Packet["answers"] = [], extra = 0): Packet {
  return {
    type: "response",
    id: msg.id ?? 0,
    flags: (((msg.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | extra | rcode) & 0xffff,
    questions: msg.questions ?? [],
    answers,
  };
}

/** "127.0.0.1:53", "[::1]:53", ":53" → host and port */
export function splitHostPort(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr.trim());
  if (!m) throw new Error(`"${addr}" is not host:port`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port: Number(m[3]) };
}

export interface DnsServer {
  readonly port: number;
  close(): Promise<void>;
}

const PER_QUERY_MS = 5000;

async function answer(serve: Serve, buf: Buffer): Promise<Buffer | undefined> {
  let msg: Packet;
  try {
    msg = dnsPacket.decode(buf);
  } catch {
    return undefined; // not DNS: dropped
  }
  let out: Packet | undefined;
  try {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), PER_QUERY_MS)));
    out = await Promise.race([serve(msg), late]).finally(() => clearTimeout(timer));
  } catch {
    out = undefined;
  }
  return dnsPacket.encode(out ?? replyTo(msg, RCODE.SERVFAIL));
}

/** Serves `serve` on UDP and TCP at `addr` (port 0: one free port for both). */
export async function listenAndServe(addr: string, serve: Serve): Promise<DnsServer> {
  const { host, port } = splitHostPort(addr);
  const tcp = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const one = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + one.length);
        void answer(serve, Buffer.from(one)).then((out) => {
          if (!out || s.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          s.write(Buffer.concat([len, out]));
        });
      }
    });
    s.on("error", () => s.destroy());
  });
  await new Promise<void>((res, rej) => {
    tcp.once("error", rej);
    tcp.listen(port, host, () => res());
  });
  const bound = (tcp.address() as net.AddressInfo).port;
  const udp = dgram.createSocket(isIPv6(host) ? "udp6" : "udp4");
  udp.on("message", (m, rinfo) => {
    void answer(serve, m).then((out) => out && udp.send(out, rinfo.port, rinfo.address));
  });
  try {
    await new Promise<void>((res, rej) => {
      udp.once("error", rej);
      udp.bind(bound, host, () => res());
    });
  } catch (e) {
    tcp.close();
    throw e;
  }
  return {
    port: bound,
    close: async () => {
      await new Promise<void>((r) => udp.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

/** One query to `url` (udp://host:port or tcp://host:port, default port 53); rejects on timeout. */
export function query(url: string, msg: Packet, timeoutMs = 2000): Promise<Packet> {
  const m = /^(udp|tcp):\/\/(.+)$/.exec(url);
  if (!m) return Promise.reject(new Error(`"${url}" is not udp:// or tcp://`));
  const t = m[2]!;
  const hp = /^\[.*\]:\d+$/.test(t) || /^[^:]+:\d+$/.test(t) ? t : isIPv6(t) ? `[${t}]:53` : `${t}:53`;
  const { host, port } = splitHostPort(hp);
  const out = dnsPacket.encode(msg);
  return new Promise<Packet>((resolve, reject) => {
    let done = false;
    const finish = (e: Error | undefined, p?: Packet) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cleanup();
      if (e) reject(e);
      else resolve(p!);
    };
    const timer = setTimeout(() => finish(new Error(`no answer from ${url} in ${timeoutMs} ms`)), timeoutMs);
    let cleanup = () => {};
    if (m[1] === "udp") {
      const s = dgram.createSocket(isIPv6(host) ? "udp6" : "udp4");
      cleanup = () => s.close();
      s.on("error", (e) => finish(e));
      s.on("message", (b) => {
        try {
          const p = dnsPacket.decode(b);
          if (p.id === msg.id) finish(undefined, p);
        } catch {
          /* garbage: wait on */
        }
      });
      s.send(out, port, host);
    } else {
      const s = net.connect(port, host);
      cleanup = () => s.destroy();
      let buf = Buffer.alloc(0);
      s.on("error", (e) => finish(e));
      s.on("data", (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          try {
            finish(undefined, dnsPacket.streamDecode(buf));
          } catch (e) {
            finish(e as Error);
          }
        }
      });
      s.write(dnsPacket.streamEncode(msg));
    }
  });
}
