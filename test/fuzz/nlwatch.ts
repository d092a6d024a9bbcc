/**
 * rtnetlink address/route notifications as a netns watch reads them (src/datapath/watch.ts):
 * whole messages back to back, from the kernel of a namespace we do not own. The decoder runs in
 * the socket's event callback, so it must never throw, whatever the bytes: every input must
 * decode to a list of changes, each with a known kind and family.
 */
import { decodeAddrRouteChanges } from "../../src/datapath/watch.js";
import { FuzzFinding, type FuzzTarget } from "./driver.js";

function msg(type: number, body: Buffer): Buffer {
  const b = Buffer.alloc(16 + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  body.copy(b, 16);
  return b;
}
const attr = (type: number, v: Buffer) => {
  const a = Buffer.alloc(4 + v.length);
  a.writeUInt16LE(a.length, 0);
  a.writeUInt16LE(type, 2);
  v.copy(a, 4);
  return a;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
// ifaddrmsg (family, prefixlen, flags, scope, index) + IFA_ADDRESS; rtmsg (12 bytes) + RTA_OIF
const newAddr = msg(20, Buffer.concat([Buffer.from([2, 24, 0, 0]), u32(7), attr(1, Buffer.from([10, 0, 0, 1]))]));
const delAddr6 = msg(21, Buffer.concat([Buffer.from([10, 64, 0, 0]), u32(3), attr(1, Buffer.alloc(16, 0xfd))]));
const newRoute = msg(24, Buffer.concat([Buffer.from([2, 24, 0, 0, 254, 4, 0, 1]), u32(0), attr(4, u32(7))]));
const delRoute6 = msg(25, Buffer.concat([Buffer.from([10, 64, 0, 0, 254, 4, 0, 1]), u32(0)]));

export const nlwatch: FuzzTarget = {
  name: "nlwatch",
  seeds: [newAddr, delAddr6, newRoute, delRoute6, Buffer.concat([newAddr, newRoute, delAddr6, delRoute6])],
  run(input) {
    let out;
    try {
      out = decodeAddrRouteChanges(input);
    } catch (e) {
      throw new FuzzFinding(`the decoder threw: ${(e as Error).message}`);
    }
    for (const c of out)
      if ((c.kind !== "addr" && c.kind !== "route") || (c.family !== 4 && c.family !== 6))
        throw new FuzzFinding(`odd change ${JSON.stringify(c)}`);
  },
};
