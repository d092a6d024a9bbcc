/**
 * Shared getters/setters for REMOTE tunnel mechanisms keyed by src/dst IP and port and MTU
 * (VXLAN, WIREGUARD, IPSEC). Internal: each mechanism module binds these to its type.
 */
import { commonKeys, getParam, parseUint, setParam } from "./common.js";
import type { MechanismHolder } from "./common.js";

export function tunnelParams(type: string) {
  const str = (key: string) => [
    (x: MechanismHolder | undefined) => getParam(x, type, key),
    <T extends MechanismHolder>(x: T, v: string): T => setParam(x, type, key, v),
  ] as const;
  const num = (key: string, bits: number) => [
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
