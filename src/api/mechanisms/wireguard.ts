/** WIREGUARD mechanism (upstream `api/pkg/api/networkservice/mechanisms/wireguard`): the same key set as IPSEC. */
import type { Mechanism } from "../gen/connection_pb.js";
import { cls, mechType, newMechanism } from "./common.js";
import { keyedTunnel } from "./tunnel.js";

export const MECHANISM = mechType.WIREGUARD;
const t = keyedTunnel(MECHANISM);
export const {
  keys,
  srcIp,
  setSrcIp,
  dstIp,
  setDstIp,
  srcPort,
  setSrcPort,
  dstPort,
  setDstPort,
  mtu,
  setMtu,
  srcPublicKey,
  setSrcPublicKey,
  dstPublicKey,
  setDstPublicKey,
} = t;

/** REMOTE WIREGUARD mechanism with the given source IP (more params via setters). */
export function newWireguard(src?: string): Mechanism {
  return newMechanism(cls.REMOTE, MECHANISM, src === undefined ? {} : { [keys.SRC_IP]: src });
}
