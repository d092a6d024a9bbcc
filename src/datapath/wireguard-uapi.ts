/**
 * WireGuard keys (x25519 from node:crypto, base64 like `wg genkey`), device configuration, and
 * wireguard-go's UAPI protocol over its unix socket (`set=1` / `get=1`), with no process handling:
 * src/datapath/wireguard.ts runs the devices.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { createConnection } from "node:net";
import { DatapathError } from "./errors.js";
import { parseCidr, parseIp } from "./ip.js";

/** Base64 (44 chars) Curve25519 keys, as `wg genkey` / `wg pubkey` print them. */
export interface WgKeyPair {
  readonly privateKey: string;
  readonly publicKey: string;
}

export interface WgPeer {
  readonly publicKey: string;
  /** "ip:port" or "[v6]:port". */
  readonly endpoint?: string;
  readonly allowedIps?: readonly string[];
  /** Seconds; 0 disables. */
  readonly persistentKeepalive?: number;
  readonly presharedKey?: string;
}

export interface WgConfig {
  readonly privateKey?: string;
  readonly listenPort?: number;
  readonly fwmark?: number;
  readonly peers?: readonly WgPeer[];
  /** Drop peers not listed here (default true). */
  readonly replacePeers?: boolean;
}

export interface WgPeerInfo {
  readonly publicKey: string;
  readonly endpoint?: string;
  readonly allowedIps: string[];
  readonly persistentKeepalive: number;
  /** Unix seconds of the last handshake; 0 = never. */
  readonly lastHandshake: number;
  readonly rxBytes: bigint;
  readonly txBytes: bigint;
}

export interface WgDeviceInfo {
  readonly publicKey?: string;
  readonly listenPort: number;
  readonly fwmark: number;
  readonly peers: WgPeerInfo[];
}

const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");

const b64ToHex = (k: string, what: string): string => {
  const b = Buffer.from(k, "base64");
  if (b.length !== 32 || !/^[A-Za-z0-9+/]{43}=$/.test(k))
    throw DatapathError.invalid(`invalid ${what} ${JSON.stringify(k)}: want 32 bytes in base64 (44 chars)`);
  return b.toString("hex");
};
const hexToB64 = (h: string): string => Buffer.from(h, "hex").toString("base64");
const urlToB64 = (s: string): string => Buffer.from(s, "base64url").toString("base64");

/** A fresh x25519 key pair (node:crypto), base64-encoded. */
export function generateKeyPair(): WgKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const d = privateKey.export({ format: "jwk" }).d,
    x = publicKey.export({ format: "jwk" }).x;
  if (!d || !x) throw new Error("x25519 key export failed");
  return { privateKey: urlToB64(d), publicKey: urlToB64(x) };
}

/** The public key of a base64 private key (like `wg pubkey`). */
export function publicKeyOf(privateKey: string): string {
  b64ToHex(privateKey, "private key");
  const der = Buffer.concat([PKCS8_X25519, Buffer.from(privateKey, "base64")]);
  const x = createPublicKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" })).export({ format: "jwk" }).x;
  if (!x) throw new Error("x25519 public key export failed");
  return urlToB64(x);
}

function checkEndpoint(e: string): void {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(e) ?? /^([^:]+):(\d+)$/.exec(e);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
    throw DatapathError.invalid(`invalid endpoint ${JSON.stringify(e)}: want ip:port or [ip6]:port`);
  parseIp(m[1]!, "endpoint address");
}

/** Builds the UAPI `set=1` request for `c` (ends with the mandatory empty line). */
export function uapiSetRequest(c: WgConfig): string {
  const lines = ["set=1"];
  if (c.privateKey !== undefined) lines.push(`private_key=${b64ToHex(c.privateKey, "private key")}`);
  if (c.listenPort !== undefined) {
    if (!Number.isInteger(c.listenPort) || c.listenPort < 0 || c.listenPort > 65535)
      throw DatapathError.invalid(`invalid listen port ${c.listenPort}`);
    lines.push(`listen_port=${c.listenPort}`);
  }
  if (c.fwmark !== undefined) lines.push(`fwmark=${c.fwmark}`);
  if (c.peers !== undefined && c.replacePeers !== false) lines.push("replace_peers=true");
  for (const p of c.peers ?? []) {
    lines.push(`public_key=${b64ToHex(p.publicKey, "peer public key")}`);
    if (p.presharedKey !== undefined) lines.push(`preshared_key=${b64ToHex(p.presharedKey, "preshared key")}`);
    if (p.endpoint !== undefined) {
      checkEndpoint(p.endpoint);
      lines.push(`endpoint=${p.endpoint}`);
    }
    if (p.persistentKeepalive !== undefined) lines.push(`persistent_keepalive_interval=${p.persistentKeepalive}`);
    lines.push("replace_allowed_ips=true");
    for (const a of p.allowedIps ?? []) {
      const c2 = parseCidr(a, "allowed IP");
      lines.push(`allowed_ip=${c2.text}/${c2.prefixLen}`);
    }
  }
  return lines.join("\n") + "\n\n";
}

/** Parses a UAPI `get=1` response body (without the errno line). */
export function parseUapiGet(text: string): WgDeviceInfo {
  let listenPort = 0,
    fwmark = 0,
    publicKey: string | undefined;
  const peers: { -readonly [K in keyof WgPeerInfo]: WgPeerInfo[K] }[] = [];
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const k = line.slice(0, eq),
      v = line.slice(eq + 1);
    const p = peers[peers.length - 1];
    switch (k) {
      case "private_key":
        publicKey = publicKeyOf(hexToB64(v));
        break;
      case "listen_port":
        listenPort = Number(v);
        break;
      case "fwmark":
        fwmark = Number(v);
        break;
      case "public_key":
        peers.push({
          publicKey: hexToB64(v),
          allowedIps: [],
          persistentKeepalive: 0,
          lastHandshake: 0,
          rxBytes: 0n,
          txBytes: 0n,
        });
        break;
      case "endpoint":
        if (p) p.endpoint = v;
        break;
      case "allowed_ip":
        p?.allowedIps.push(v);
        break;
      case "persistent_keepalive_interval":
        if (p) p.persistentKeepalive = Number(v);
        break;
      case "last_handshake_time_sec":
        if (p) p.lastHandshake = Number(v);
        break;
      case "rx_bytes":
        if (p) p.rxBytes = BigInt(v);
        break;
      case "tx_bytes":
        if (p) p.txBytes = BigInt(v);
        break;
      default:
        break;
    }
  }
  return { listenPort, fwmark, peers, ...(publicKey ? { publicKey } : {}) };
}

/** Sends one UAPI request on `socketPath`; resolves with the body before `errno=0`. */
async function uapi(socketPath: string, request: string, timeoutMs: number): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    const s = createConnection(socketPath);
    let buf = "";
    const fail = (e: Error): void => {
      s.destroy();
      reject(e);
    };
    const timer = setTimeout(
      () =>
        fail(
          new DatapathError(`UAPI ${socketPath}: no answer in ${timeoutMs} ms`, {
            code: "ETIMEDOUT",
            errno: 110,
            syscall: "uapi",
            path: socketPath,
          }),
        ),
      timeoutMs,
    );
    s.setEncoding("utf8");
    s.on("connect", () => s.write(request));
    s.on("data", (d: string) => {
      buf += d;
      const m = /(^|\n)errno=(-?\d+)\n\n/.exec(buf);
      if (!m) return;
      clearTimeout(timer);
      s.end();
      const errno = Number(m[2]);
      if (errno !== 0) {
        reject(
          new DatapathError(`UAPI ${request.split("\n")[0]} on ${socketPath} failed: errno=${errno}`, {
            code: errno === 22 || errno === -22 ? "EINVAL" : `E${Math.abs(errno)}`,
            errno: Math.abs(errno),
            syscall: "uapi",
            path: socketPath,
          }),
        );
      } else {
        resolve(buf.slice(0, m.index));
      }
    });
    s.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(
        new DatapathError(
          `${e.code ?? "EIO"} connecting to UAPI ${socketPath}`,
          { code: e.code ?? "EIO", errno: Math.abs(e.errno ?? 5), syscall: "connect", path: socketPath },
          { cause: e },
        ),
      );
    });
  });
}

/** Applies `c` through the UAPI socket at `socketPath`. */
export async function wgUapiSet(socketPath: string, c: WgConfig, timeoutMs = 2000): Promise<void> {
  await uapi(socketPath, uapiSetRequest(c), timeoutMs);
}

/** Reads the device state through the UAPI socket at `socketPath`. */
export async function wgUapiGet(socketPath: string, timeoutMs = 2000): Promise<WgDeviceInfo> {
  return parseUapiGet(await uapi(socketPath, "get=1\n\n", timeoutMs));
}
