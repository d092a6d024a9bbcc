/** OpenFlow 1.3 client and codec. */
export * from "./client.js";
export * from "./errors.js";
export * from "./codec.js";
export * from "./names.js";
export * from "./xconnect.js";
