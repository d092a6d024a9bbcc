/** IPSEC mechanism (upstream `api/pkg/api/networkservice/mechanisms/ipsec`): the same key set as WIREGUARD. */
import type { Mechanism } from "../gen/connection_pb.js";
import { cls, mechType, newMechanism } from "./common.js";
import { keyedTunnel } from "./tunnel.js";

export const MECHANISM = mechType.IPSEC;
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

/** REMOTE IPSEC mechanism with the given source IP (more params via setters). */
export function newIpsec(src?: string): Mechanism {
  return newMechanism(cls.REMOTE, MECHANISM, src === undefined ? {} : { [keys.SRC_IP]: src });
}
