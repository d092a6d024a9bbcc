/**
 * Shared getters/setters for REMOTE tunnel mechanisms keyed by src/dst IP and port and MTU
 * (VXLAN, WIREGUARD, IPSEC). Internal: each mechanism module binds these to its type.
 */
import { commonKeys, getParam, parseUint, setParam } from "./common.js";
import type { MechanismHolder } from "./common.js";

export function tunnelParams(type: string) {
  const str = (key: string) =>
    [
      (x: MechanismHolder | undefined) => getParam(x, type, key),
      <T extends MechanismHolder>(x: T, v: string): T => setParam(x, type, key, v),
    ] as const;
  const num = (key: string, bits: number) =>
    [
      (x: MechanismHolder | undefined) => parseUint(getParam(x, type, key), bits),
      <T extends MechanismHolder>(x: T, v: number): T => setParam(x, type, key, String(v)),
    ] as const;
  const [srcIp, setSrcIp] = str(commonKeys.SRC_IP);
  const [dstIp, setDstIp] = str(commonKeys.DST_IP);
  const [srcPort, setSrcPort] = num(commonKeys.SRC_PORT, 16);
  const [dstPort, setDstPort] = num(commonKeys.DST_PORT, 16);
  const [mtu, setMtu] = num(commonKeys.MTU, 32);
  return { str, num, srcIp, setSrcIp, dstIp, setDstIp, srcPort, setSrcPort, dstPort, setDstPort, mtu, setMtu };
}

/**
 * The keyed tunnels (WIREGUARD and IPSEC; upstream defines the same keys in both packages) share one key set: src/dst IP and port,
 * src/dst public key, MTU. Each module binds this to its own mechanism type.
 */
export function keyedTunnel(type: string) {
  const keys = {
    SRC_IP: commonKeys.SRC_IP,
    DST_IP: commonKeys.DST_IP,
    SRC_PORT: commonKeys.SRC_PORT,
    DST_PORT: commonKeys.DST_PORT,
    SRC_PUBLIC_KEY: "src_public_key",
    DST_PUBLIC_KEY: "dst_public_key",
    MTU: commonKeys.MTU,
  } as const;
  const p = tunnelParams(type);
  const [srcPublicKey, setSrcPublicKey] = p.str(keys.SRC_PUBLIC_KEY);
  const [dstPublicKey, setDstPublicKey] = p.str(keys.DST_PUBLIC_KEY);
  return { ...p, keys, srcPublicKey, setSrcPublicKey, dstPublicKey, setDstPublicKey };
}
