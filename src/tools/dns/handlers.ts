/**
 * DNS handlers that chain like the network service chain (upstream `sdk/pkg/tools/dnsutils`): each
 * answers or calls `next`; `undefined` means no answer. The per-query state (`Q`) carries the
 * upstream servers and search domains that `dnsConfigs` collected for `fanout` and `searches`.
 *
 *   const serve = dnsChain(dnsConfigs(() => configs), searches(), noLoop(), cache(), fanout());
 *   await listenAndServe("127.0.0.1:53", serve);
 */
import dnsPacket from "dns-packet";
import { formatAddr, parseAddr } from "./ip.js";
import { query, RCODE, rcodeOf, replyTo, type Packet, type Serve } from "./wire.js";

export interface Q {
  /** upstream servers, udp://ip or tcp://ip */
  targets: string[];
  searchDomains: string[];
}
export type Next = (msg: Packet, q: Q) => Promise<Packet | undefined>;
export type Handler = (msg: Packet, q: Q, next: Next) => Promise<Packet | undefined>;

export function dnsChain(...hs: Handler[]): Serve {
  const run =
    (i: number): Next =>
    (msg, q) =>
      i < hs.length ? hs[i]!(msg, q, run(i + 1)) : Promise.resolve(undefined);
  return (msg) => run(0)(msg, { targets: [], searchDomains: [] });
}

export interface DnsConfigLike {
  dnsServerIps: readonly string[];
  searchDomains: readonly string[];
}

/** every server and search domain of the configs; asks over UDP, then once more over TCP */
export function dnsConfigs(configs: () => readonly DnsConfigLike[]): Handler {
  return async (msg, q, next) => {
    const all = configs();
    const ips = [...new Set(all.flatMap((c) => c.dnsServerIps))];
    const searchDomains = [...new Set([...q.searchDomains, ...all.flatMap((c) => c.searchDomains)])];
    const udp = await next(msg, { targets: ips.map((ip) => `udp://${ip}`), searchDomains });
    if (udp && rcodeOf(udp) === RCODE.NOERROR) return udp;
    return (await next(msg, { targets: ips.map((ip) => `tcp://${ip}`), searchDomains })) ?? udp;
  };
}

const fqdn = (n: string) => (n.endsWith(".") ? n : `${n}.`);

/** the name as asked, then with each search domain; the first NOERROR wins (question as asked) */
export function searches(): Handler {
  return async (msg, q, next) => {
    const qs = msg.questions ?? [];
    if (qs.length !== 1) return next(msg, q);
    const name = fqdn(qs[0]!.name);
    const tries = [name, ...q.searchDomains.map((d) => `${name}${fqdn(d).replace(/^\./, "")}`)];
    for (const n of tries) {
      const r = await next({ ...msg, questions: [{ ...qs[0]!, name: n }] }, q);
      if (r && rcodeOf(r) === RCODE.NOERROR) return { ...r, questions: qs };
    }
    return undefined;
  };
}

/** the same message id already in flight here: a loop, answered SERVFAIL */
export function noLoop(): Handler {
  const inflight = new Set<number>();
  return async (msg, q, next) => {
    const id = msg.id ?? 0;
    if (inflight.has(id)) return replyTo(msg, RCODE.SERVFAIL);
    inflight.add(id);
    try {
      return await next(msg, q);
    } finally {
      inflight.delete(id);
    }
  };
}

/** clears "recursion desired" before asking on */
export function noRecursion(): Handler {
  return (msg, q, next) => next({ ...msg, flags: (msg.flags ?? 0) & ~dnsPacket.RECURSION_DESIRED }, q);
}

/** answers from earlier answers while all their TTLs last (TTLs counted down) */
export function cache(): Handler {
  const store = new Map<string, { at: number; msg: Packet }>();
  const keyOf = (m: Packet) => (m.questions ?? []).map((x) => `${x.name.toLowerCase()}/${x.type}`).join(" ");
  return async (msg, q, next) => {
    const key = keyOf(msg);
    const hit = store.get(key);
    if (hit) {
      const age = Math.floor((Date.now() - hit.at) / 1000);
      const answers = (hit.msg.answers ?? []).map((a) => ({ ...a, ttl: ((a as { ttl?: number }).ttl ?? 0) - age }));
      if (answers.length && answers.every((a) => a.ttl > 0))
        return { ...hit.msg, id: msg.id ?? 0, answers: answers as Packet["answers"] };
      store.delete(key);
    }
    const r = await next(msg, q);
    if (r && rcodeOf(r) === RCODE.NOERROR && r.answers?.length) store.set(key, { at: Date.now(), msg: r });
    return r;
  };
}

/** asks every target at once; the first NOERROR answer wins */
export function fanout(o: { timeoutMs?: number } = {}): Handler {
  return (msg, q) =>
    new Promise<Packet | undefined>((resolve) => {
      if (!q.targets.length) return resolve(undefined);
      let left = q.targets.length;
      for (const t of q.targets)
        void query(t, msg, o.timeoutMs ?? 2000)
          .then((r) => (rcodeOf(r) === RCODE.NOERROR ? resolve(r) : undefined))
          .catch(() => undefined)
          .finally(() => --left === 0 && resolve(undefined));
    });
}

/** name → addresses, answered for A, AAAA and PTR (upstream's memory handler) */
export class DnsRecords {
  private readonly names = new Map<string, string[]>();
  private readonly ptr = new Map<string, string>();
  /** `ttl` of every answer (upstream's memory handler: 3600 s) */
  constructor(private readonly ttl = 3600) {}

  set(name: string, ips: readonly string[]): void {
    const n = fqdn(name).toLowerCase();
    this.delete(n);
    this.names.set(n, [...ips]);
    for (const ip of ips) this.ptr.set(reverseName(ip), n);
  }
  delete(name: string): void {
    const n = fqdn(name).toLowerCase();
    for (const ip of this.names.get(n) ?? []) if (this.ptr.get(reverseName(ip)) === n) this.ptr.delete(reverseName(ip));
    this.names.delete(n);
  }
  get size(): number {
    return this.names.size;
  }

  handler(): Handler {
    return async (msg, q, next) => {
      const qs = msg.questions?.[0];
      if (!qs) return next(msg, q);
      const n = fqdn(qs.name).toLowerCase();
      const aa = dnsPacket.AUTHORITATIVE_ANSWER;
      if (qs.type === "PTR") {
        const target = this.ptr.get(n);
        if (target)
          return replyTo(msg, RCODE.NOERROR, [{ type: "PTR", name: qs.name, ttl: this.ttl, data: target }], aa);
        return next(msg, q);
      }
      const ips = this.names.get(n);
      if (!ips) return next(msg, q);
      const want = qs.type === "AAAA" ? true : qs.type === "A" ? false : undefined;
      const answers =
        want === undefined
          ? []
          : ips
              .filter((ip) => ip.includes(":") === want)
              .map((ip) => ({ type: qs.type as "A" | "AAAA", name: qs.name, ttl: this.ttl, data: ip }));
      return replyTo(msg, RCODE.NOERROR, answers, aa);
    };
  }
}

/** 10.0.0.1 → 1.0.0.10.in-addr.arpa.; IPv6 by nibbles under ip6.arpa. */
export function reverseName(ip: string): string {
  const a = parseAddr(ip.split("/")[0]!);
  if (!a.v6) return `${formatAddr(false, a.addr).split(".").reverse().join(".")}.in-addr.arpa.`;
  const hex = a.addr.toString(16).padStart(32, "0");
  return `${[...hex].reverse().join(".")}.ip6.arpa.`;
}
