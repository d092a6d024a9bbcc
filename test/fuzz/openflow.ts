/**
 * OpenFlow 1.3 messages from a switch: the input is a byte stream framed as the client frames it
 * (src/ovs/openflow/client.ts, by the header's length), and each frame goes through the decoders
 * the client applies to its type.
 */
import {
  decodeActions,
  decodeError,
  decodeFeatures,
  decodeFlowStats,
  decodeHeader,
  decodeMatch,
  decodeMultipartReply,
  decodePortDesc,
  decodePortStats,
  encodeAction,
  encodeHeader,
  encodeHello,
  encodeMatch,
  helloVersions,
  MsgType,
  MultipartType,
  OFP_HEADER_LEN,
} from "../../src/ovs/openflow/codec.js";
import { errorNames, msgName } from "../../src/ovs/openflow/names.js";
import type { FuzzTarget } from "./driver.js";

function multipart(type: number, body: Buffer): Buffer {
  const b = Buffer.alloc(8 + body.length);
  b.writeUInt16BE(type, 0);
  body.copy(b, 8);
  return encodeHeader(MsgType.MULTIPART_REPLY, 7, b);
}

function flowStats(): Buffer {
  const match = encodeMatch({ inPort: 1, ethType: 0x0800 } as Parameters<typeof encodeMatch>[0]);
  const instr = Buffer.concat([Buffer.from([0, 4, 0, 0, 0, 0, 0, 0]), encodeAction({ type: "output", port: 2 })]);
  instr.writeUInt16BE(instr.length, 2);
  const fixed = Buffer.alloc(48);
  const len = fixed.length + match.length + instr.length;
  fixed.writeUInt16BE(len, 0);
  return Buffer.concat([fixed, match, instr]);
}

const seeds = [
  encodeHello(1),
  encodeHeader(MsgType.ERROR, 2, Buffer.concat([Buffer.from([0, 1, 0, 5]), encodeHello(9)])),
  encodeHeader(MsgType.FEATURES_REPLY, 3, Buffer.alloc(24, 1)),
  encodeHeader(MsgType.ECHO_REQUEST, 4, Buffer.from("ping")),
  multipart(MultipartType.FLOW, Buffer.concat([flowStats(), flowStats()])),
  multipart(MultipartType.PORT_STATS, Buffer.alloc(112, 3)),
  multipart(MultipartType.PORT_DESC, Buffer.alloc(64, 0x41)),
];

function onFrame(msg: Buffer): void {
  const h = decodeHeader(msg);
  switch (h.type) {
    case MsgType.HELLO:
      helloVersions(msg);
      break;
    case MsgType.ERROR: {
      const e = decodeError(msg);
      errorNames(e.type, e.code);
      if (e.data.length >= OFP_HEADER_LEN) msgName(e.data.readUInt8(1));
      break;
    }
    case MsgType.FEATURES_REPLY:
      decodeFeatures(msg);
      break;
    case MsgType.MULTIPART_REPLY: {
      const r = decodeMultipartReply(msg);
      if (r.type === MultipartType.FLOW) decodeFlowStats(r.body);
      else if (r.type === MultipartType.PORT_STATS) decodePortStats(r.body);
      else if (r.type === MultipartType.PORT_DESC) decodePortDesc(r.body);
      break;
    }
    default:
      decodeMatch(msg, OFP_HEADER_LEN);
      decodeActions(msg.subarray(OFP_HEADER_LEN));
  }
}

export const openflow: FuzzTarget = {
  name: "openflow",
  seeds: [...seeds, Buffer.concat(seeds)],
  run(input) {
    let rx = input;
    while (rx.length >= OFP_HEADER_LEN) {
      const len = rx.readUInt16BE(2);
      if (len < OFP_HEADER_LEN || rx.length < len) return; // the client drops the session / waits
      onFrame(rx.subarray(0, len));
      rx = rx.subarray(len);
    }
  },
};
