/** OVSDB (RFC 7047) client, replica and Open_vSwitch schema helpers. */
export * from "./client.js";
export * from "./errors.js";
export * from "./ops.js";
export * from "./replica.js";
export * from "./values.js";
export * from "./vswitch.js";
export { JsonSplitter } from "./jsonstream.js";
export * from "../target.js";
