/**
 * OpenFlow 1.3 binary codec (wire version 0x04), the subset a forwarder needs: HELLO with a
 * version bitmap, ERROR, ECHO, FEATURES, FLOW_MOD with OXM matches and APPLY_ACTIONS /
 * GOTO_TABLE instructions, BARRIER, MULTIPART (flow stats, port stats, port desc). All fields
 * big-endian. Every encoder returns the whole message, header included.
 *
 *   encodeFlowMod(7, { command: "add", priority: 100, match: { inPort: 1 }, actions: [{ type: "output", port: 2 }] })
 */
export * from "./header.js";
export { decodeMatch, encodeMatch, type Match, type MatchField } from "./match.js";
export { decodeActions, encodeAction, type Action } from "./actions.js";
export * from "./messages.js";
