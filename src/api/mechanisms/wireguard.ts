/** WIREGUARD mechanism (spec §8.8): the same key set as IPSEC. */
import type { Mechanism } from "../gen/connection_pb.js";
import { cls, commonKeys, mechType, newMechanism } from "./common.js";
import { tunnelParams } from "./tunnel.js";

export const MECHANISM = mechType.WIREGUARD;
export const keys = {
  SRC_IP: commonKeys.SRC_IP, DST_IP: commonKeys.DST_IP, SRC_PORT: commonKeys.SRC_PORT,
  DST_PORT: commonKeys.DST_PORT, SRC_PUBLIC_KEY: "src_public_key", DST_PUBLIC_KEY: "dst_public_key",
  MTU: commonKeys.MTU,
} as const;

const p = tunnelParams(MECHANISM);
export const { srcIp, setSrcIp, dstIp, setDstIp, srcPort, setSrcPort, dstPort, setDstPort, mtu, setMtu } = p;
export const [srcPublicKey, setSrcPublicKey] = p.str(keys.SRC_PUBLIC_KEY);
export const [dstPublicKey, setDstPublicKey] = p.str(keys.DST_PUBLIC_KEY);

/** REMOTE WIREGUARD mechanism with the given source IP (more params via setters). */
export function newWireguard(src?: string): Mechanism {
  return newMechanism(cls.REMOTE, MECHANISM, src === undefined ? {} : { [keys.SRC_IP]: src });
}
