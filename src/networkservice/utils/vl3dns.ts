/**
 * The DNS side of a vL3 endpoint, shared by its server and client elements and its DNS server:
 * our DNS address (once known), the global vL3 net, and the peer endpoints' DNS servers by
 * connection id (the fan-out targets for names we do not hold).
 */
import { contains, network, parsePrefix } from "./ip.js";

export class Vl3DnsState {
  private readonly peers = new Map<string, string[]>();
  constructor(
    readonly dnsIp: () => string | undefined,
    private readonly globalNet: () => string | undefined,
  ) {}

  inGlobal(ip: string): boolean {
    const g = this.globalNet();
    if (!g) return false;
    try {
      const a = parsePrefix(ip);
      return contains(network(parsePrefix(g)), a.v6, a.addr);
    } catch {
      return false;
    }
  }

  setPeer(connId: string, ips: readonly string[]): void {
    if (ips.length) this.peers.set(connId, [...ips]);
    else this.peers.delete(connId);
  }

  /** the peers' DNS servers, as DNS configs for the handler chain */
  peerConfigs(): { dnsServerIps: string[]; searchDomains: string[] }[] {
    return [...new Set([...this.peers.values()].flat())].map((ip) => ({ dnsServerIps: [ip], searchDomains: [] }));
  }
}
