/**
 * A self-signed TLS certificate made in memory (RSA 2048, SHA-256, one year), as upstream's
 * admission webhook makes one in selfregister mode: the certificate is its own CA, so the
 * API server trusts it through the webhook configuration's caBundle. Node has no X.509
 * writer, so the DER is assembled here (RFC 5280: version 3, subjectAltName, basicConstraints).
 *
 *   const { certPem, keyPem } = selfSignedCert({ commonName: "networkservicemesh.svc-ca", dnsNames: ["svc.ns"], ips: ["127.0.0.1"] });
 */
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { isIP } from "node:net";

const len = (n: number): number[] =>
  n < 0x80
    ? [n]
    : n < 0x100
      ? [0x81, n]
      : n < 0x10000
        ? [0x82, n >> 8, n & 0xff]
        : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
const tlv = (tag: number, ...parts: Uint8Array[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag, ...len(body.length)]), body]);
};
const seq = (...p: Uint8Array[]) => tlv(0x30, ...p);
const int = (b: Uint8Array) => tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
const oid = (s: string): Buffer => {
  const [a, b, ...rest] = s.split(".").map(Number);
  const out = [a! * 40 + b!];
  for (const v of rest) {
    const bytes = [v & 0x7f];
    for (let x = v >> 7; x > 0; x >>= 7) bytes.unshift((x & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
};
const utcTime = (d: Date) => {
  const p = (n: number) => String(n).padStart(2, "0");
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s));
};
const ipBytes = (ip: string): Buffer => {
  if (isIP(ip) === 4) return Buffer.from(ip.split(".").map(Number));
  const [head, tail = ""] = ip.split("::");
  const h = head ? head.split(":") : [];
  const t = ip.includes("::") && tail ? tail.split(":") : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
};

export interface SelfSignedOptions {
  commonName: string;
  dnsNames?: string[];
  ips?: string[];
  validDays?: number;
}

export function selfSignedCert(o: SelfSignedOptions): { certPem: string; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const alg = seq(oid("1.2.840.113549.1.1.11"), tlv(0x05)); // sha256WithRSAEncryption
  const name = seq(tlv(0x31, seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from(o.commonName)))));
  const now = new Date(Date.now() - 60_000);
  const until = new Date(now.getTime() + (o.validDays ?? 365) * 86_400_000);
  const sans = [
    ...(o.dnsNames ?? []).map((n) => tlv(0x82, Buffer.from(n))),
    ...(o.ips ?? []).map((ip) => tlv(0x87, ipBytes(ip))),
  ];
  const exts = [
    seq(oid("2.5.29.19"), tlv(0x01, Buffer.from([0xff])), tlv(0x04, seq(tlv(0x01, Buffer.from([0xff]))))),
    seq(oid("2.5.29.15"), tlv(0x01, Buffer.from([0xff])), tlv(0x04, tlv(0x03, Buffer.from([0x02, 0xa4])))), // digitalSignature, keyEncipherment, keyCertSign
  ];
  if (sans.length) exts.push(seq(oid("2.5.29.17"), tlv(0x04, seq(...sans))));
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const tbs = seq(
    tlv(0xa0, int(Buffer.from([2]))),
    int(serial),
    alg,
    name,
    seq(utcTime(now), utcTime(until)),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    tlv(0xa3, seq(...exts)),
  );
  const sig = sign("sha256", tbs, privateKey);
  const der = seq(tbs, alg, tlv(0x03, Buffer.from([0]), sig));
  const b64 = der.toString("base64").replace(/.{64}/g, "$&\n");
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END CERTIFICATE-----\n`,
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}
