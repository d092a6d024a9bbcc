/**
 * A dnsmasq (Debian's package) serving the interdomain records of local domains: for each domain
 * `d` and each service (`registry.nsm-system`, `nsmgr-proxy.nsm-system`) an SRV record of the
 * name `<service>.<d>` itself with the port, and an A record of the same name, as upstream's
 * dnsresolve looks them up (see src/tools/dns/resolver.ts). Names under the given zones that are not
 * listed answer NXDOMAIN (dnsmasq `local=`); nothing is forwarded anywhere.
 *
 *   const d = startDnsmasq({ dir, listen: "127.0.0.1", port: 5353, zones: ["test"],
 *     records: [{ name: "registry.nsm-system.b.test", ip: "198.18.2.254", port: 5002 }] });
 *   ...; await d.stop();
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface DnsRecord {
  name: string;
  /** A record (omit for an SRV without address) */
  ip?: string;
  /** SRV port (omit for an address without SRV) */
  port?: number;
}

export interface DnsmasqOptions {
  /** where the config file and the log go */
  dir: string;
  /** address to listen on */
  listen: string;
  port: number;
  /** run inside this named netns (nsenter) */
  netns?: string;
  /** zones answered authoritatively: unknown names in them are NXDOMAIN */
  zones: readonly string[];
  records: readonly DnsRecord[];
  /** TTL of the answers (default 5 s) */
  ttl?: number;
  /** detach (nsm up: it outlives the starter) */
  detached?: boolean;
}

export interface Dnsmasq {
  readonly pid: number;
  readonly log: string;
  readonly conf: string;
  /** `ip:port` */
  readonly server: string;
  stop(): Promise<void>;
}

export function dnsmasqConfig(o: Pick<DnsmasqOptions, "zones" | "records" | "ttl">): string {
  const lines = [`local-ttl=${o.ttl ?? 5}`, ...o.zones.map((z) => `local=/${z}/`)];
  for (const r of o.records) {
    if (r.port !== undefined) lines.push(`srv-host=${r.name},${r.name},${r.port}`);
    if (r.ip) lines.push(`host-record=${r.name},${r.ip}`);
  }
  return lines.join("\n") + "\n";
}

export function startDnsmasq(o: DnsmasqOptions): Dnsmasq {
  const conf = join(o.dir, `dnsmasq-${o.port}.conf`);
  const log = join(o.dir, `dnsmasq-${o.port}.log`);
  writeFileSync(conf, dnsmasqConfig(o));
  const argv = [
    "--keep-in-foreground",
    "--no-resolv",
    "--no-hosts",
    "--no-poll",
    "--bind-interfaces",
    `--listen-address=${o.listen}`,
    `--port=${o.port}`,
    `--conf-file=${conf}`,
    "--pid-file=",
    `--log-facility=${log}`,
    "--log-queries",
  ];
  const [file, ...args] = o.netns
    ? ["nsenter", `--net=/run/netns/${o.netns}`, "--", "dnsmasq", ...argv]
    : ["dnsmasq", ...argv];
  const child: ChildProcess = spawn(file!, args, { stdio: "ignore", detached: o.detached ?? false });
  if (!child.pid) throw new Error(`dnsmasq: cannot start (${file})`);
  if (o.detached) child.unref();
  let gone = false;
  const exited = new Promise<void>((r) =>
    child.once("exit", () => {
      gone = true;
      r();
    }),
  );
  return {
    pid: child.pid,
    log,
    conf,
    server: `${o.listen}:${o.port}`,
    async stop() {
      if (gone) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Resolves once something answers UDP DNS on `server` (dnsmasq is up), or rejects after `ms`. */
export async function waitDnsReady(query: (signal: AbortSignal) => Promise<unknown>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      await query(AbortSignal.timeout(300));
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
