/** MEMIF mechanism (upstream `api/pkg/api/networkservice/mechanisms/memif`): shared-memory packet interface over a unix socket. */
import type { Mechanism } from "../gen/connection_pb.js";
import { cls, commonKeys, getParam, mechType, newMechanism, setParam } from "./common.js";
import type { MechanismHolder } from "./common.js";

export const MECHANISM = mechType.MEMIF;
export const keys = {
  /** Abstract-socket mode: socket name in the abstract namespace. */
  SOCKET_FILE: "socketfile",
  /** Go consts "NetNSURL" and "SocketFileURL" are both this key. */
  INODE_URL: commonKeys.INODE_URL,
} as const;
export const FILE_SCHEME = "file";

/** Filesystem mode: `inodeURL` = `file://<socketPath>`. */
export function newMemif(socketPath: string): Mechanism {
  return newMechanism(cls.LOCAL, MECHANISM, { [keys.INODE_URL]: `file://${socketPath}` });
}
/** Abstract mode: `inodeURL` = `file://<netnsPath>` where the abstract socket `socketName` lives. */
export function newAbstractMemif(netnsPath: string, socketName?: string): Mechanism {
  const p: Record<string, string> = { [keys.INODE_URL]: `file://${netnsPath}` };
  if (socketName !== undefined) p[keys.SOCKET_FILE] = socketName;
  return newMechanism(cls.LOCAL, MECHANISM, p);
}
export const inodeUrlOf = (x: MechanismHolder | undefined) => getParam(x, MECHANISM, keys.INODE_URL);
export const setInodeUrl = <T extends MechanismHolder>(x: T, url: string): T =>
  setParam(x, MECHANISM, keys.INODE_URL, url);
export const socketFileOf = (x: MechanismHolder | undefined) => getParam(x, MECHANISM, keys.SOCKET_FILE);
export const setSocketFile = <T extends MechanismHolder>(x: T, name: string): T =>
  setParam(x, MECHANISM, keys.SOCKET_FILE, name);
