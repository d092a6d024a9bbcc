/**
 * Finding a domain's registry and nsmgr-proxy through DNS, as upstream's
 * `sdk/pkg/registry/common/dnsresolve` does: the name is `<service>.<domain>` (services
 * `registry.nsm-system` and `nsmgr-proxy.nsm-system`); an SRV query of that name itself gives the
 * port (first record), an A query (then AAAA) of the same name the address. A domain that is
 * already `ip:port` needs no DNS. Messages are encoded and decoded by `dns-packet`; queries go
 * over UDP to one server: the configured one (NSM_DNS_SERVER) or the first `nameserver` of
 * /etc/resolv.conf. Answers are cached for their TTL (at least 1 s, at most 5 min).
 *
 *   const dns = new DnsResolver({ server: "127.0.0.1:5353" });
 *   await dns.resolve(REGISTRY_SERVICE, "cluster2.test");   // "tcp://198.18.2.254:5002"
 *
 * Errors are NsmError(UNAVAILABLE or NOT_FOUND) naming the domain and the DNS name tried.
 */
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import dnsPacket from "dns-packet";
import { NsmError, status } from "../errors.js";

export const REGISTRY_SERVICE = "registry.nsm-system";
export const NSMGR_PROXY_SERVICE = "nsmgr-proxy.nsm-system";

export interface DnsResolverOptions {
  /** "ip", "ip:port" or "[ipv6]:port" (default: first nameserver of /etc/resolv.conf, port 53) */
  server?: string;
  /** per query (default 2000 ms) */
  timeoutMs?: number;
  /** tries per query (default 2) */
  attempts?: number;
}

interface Cached<T> {
  value: T;
  until: number;
}

/** "ip[:port]" / "[v6]:port" → host and port. */
export function parseDnsServer(s: string): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) return { host: v6[1]!, port: Number(v6[2] ?? 53) };
  if (isIP(s) === 6) return { host: s, port: 53 };
  const [host, port] = s.split(":");
  if (!host || isIP(host) === 0 || (port !== undefined && !/^\d+$/.test(port)))
    throw new NsmError(status.INVALID_ARGUMENT, `DNS server "${s}" is not ip[:port]`);
  return { host, port: Number(port ?? 53) };
}

function systemServer(): string {
  let text = "";
  try {
    text = readFileSync("/etc/resolv.conf", "utf8");
  } catch {
    /* none */
  }
  const m = /^\s*nameserver\s+(\S+)/m.exec(text);
  if (!m)
    throw new NsmError(status.UNAVAILABLE, "no DNS server: /etc/resolv.conf has no nameserver (set NSM_DNS_SERVER)");
  return m[1]!;
}

/** A domain given as `ip:port` (or a URL with a literal IP and a port) → tcp URL; anything else undefined. */
export function literalDomainUrl(domain: string): string | undefined {
  try {
    const u = new URL(domain.includes("://") ? domain : `tcp://${domain}`);
    const host = u.hostname.replace(/^\[|\]$/g, "");
    if (!u.port || isIP(host) === 0) return undefined;
    return `tcp://${u.host}`;
  } catch {
    return undefined;
  }
}

type RecordType = "SRV" | "A" | "AAAA";

export class DnsResolver {
  private readonly cache = new Map<string, Cached<dnsPacket.Answer[]>>();
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private server: { host: string; port: number } | undefined;

  constructor(private readonly o: DnsResolverOptions = {}) {
    this.timeoutMs = o.timeoutMs ?? 2000;
    this.attempts = o.attempts ?? 2;
    if (o.server) this.server = parseDnsServer(o.server);
  }

  /** `tcp://ip:port` of `service` in `domain` (see the module comment). */
  async resolve(service: string, domain: string, signal?: AbortSignal): Promise<string> {
    if (!domain) throw new NsmError(status.INVALID_ARGUMENT, "domain cannot be empty");
    const literal = literalDomainUrl(domain);
    if (literal) return literal;
    const name = `${service}.${domain}`;
    const srv = (await this.query(name, "SRV", domain, signal)).filter((a) => a.type === "SRV");
    if (!srv.length) throw new NsmError(status.NOT_FOUND, `domain ${domain}: no SRV record for ${name}`);
    const port = (srv[0] as dnsPacket.SrvAnswer).data.port;
    const addr = async (type: "A" | "AAAA") =>
      (await this.query(name, type, domain, signal)).find((a): a is dnsPacket.StringAnswer => a.type === type)?.data;
    let ip = await addr("A");
    if (!ip) {
      const v6 = await addr("AAAA");
      if (v6) ip = `[${v6}]`;
    }
    if (!ip)
      throw new NsmError(status.NOT_FOUND, `domain ${domain}: SRV ${name} has port ${port} but no A/AAAA record`);
    return `tcp://${ip}:${port}`;
  }

  /** The answers of one query (cached for their TTL); NXDOMAIN/timeouts/server failures throw. */
  async query(name: string, type: RecordType, domain: string, signal?: AbortSignal): Promise<dnsPacket.Answer[]> {
    const key = `${type} ${name}`;
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return hit.value;
    this.server ??= parseDnsServer(this.o.server ?? systemServer());
    const srv = this.server;
    let last: unknown;
    for (let i = 0; i < this.attempts; i++) {
      try {
        const res = await this.once(name, type, srv, signal);
        if (res.rcode === "NXDOMAIN")
          throw new NsmError(status.NOT_FOUND, `domain ${domain}: ${name} does not exist (NXDOMAIN from ${fmt(srv)})`);
        if (res.rcode && res.rcode !== "NOERROR")
          throw new NsmError(status.UNAVAILABLE, `domain ${domain}: ${type} ${name}: ${res.rcode} from ${fmt(srv)}`);
        const answers = (res.answers ?? []).filter((a) => a.name.toLowerCase() === name.toLowerCase());
        const ttl = answers.reduce((m, a) => Math.min(m, (a as { ttl?: number }).ttl ?? 0), 300);
        if (answers.length) this.cache.set(key, { value: answers, until: Date.now() + Math.max(1, ttl) * 1000 });
        return answers;
      } catch (e) {
        last = e;
        if (e instanceof NsmError || signal?.aborted) throw e;
      }
    }
    throw new NsmError(
      status.UNAVAILABLE,
      `domain ${domain}: ${type} ${name}: no answer from DNS server ${fmt(srv)} (${this.attempts} × ${this.timeoutMs} ms): ${(last as Error)?.message ?? last}`,
    );
  }

  private once(
    name: string,
    type: RecordType,
    srv: { host: string; port: number },
    signal?: AbortSignal,
  ): Promise<dnsPacket.DecodedPacket & { rcode?: string }> {
    const id = Math.floor(Math.random() * 65536);
    const msg = dnsPacket.encode({
      type: "query",
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type, name }],
    });
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket(isIP(srv.host) === 6 ? "udp6" : "udp4");
      const done = (err?: unknown, res?: dnsPacket.DecodedPacket) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        sock.close();
        if (err) reject(err);
        else resolve(res as dnsPacket.DecodedPacket & { rcode?: string });
      };
      const timer = setTimeout(() => done(new Error("timed out")), this.timeoutMs);
      const onAbort = () => done(new NsmError(status.CANCELLED, `DNS ${type} ${name}: cancelled`));
      signal?.addEventListener("abort", onAbort, { once: true });
      sock.on("error", (e) => done(e));
      sock.on("message", (buf) => {
        let p: dnsPacket.DecodedPacket;
        try {
          p = dnsPacket.decode(buf);
        } catch {
          return; // not a DNS answer: keep waiting
        }
        if (p.id !== id) return;
        done(undefined, p);
      });
      sock.send(msg, srv.port, srv.host, (e) => e && done(e));
    });
  }
}

const fmt = (s: { host: string; port: number }) =>
  isIP(s.host) === 6 ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
