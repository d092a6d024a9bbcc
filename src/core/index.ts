/** The chain framework: elements, chains, context, metadata, begin, grpc adapters, errors. */
export * from "./chain.js";
export * from "./context.js";
export * from "../tools/errors.js";
export * from "./metadata.js";
export * from "./metadata-element.js";
export * from "./begin.js";
export * from "./serial.js";
export * from "./timers.js";
export * from "./monitor.js";
export * from "./registry.js";
export * from "./grpc.js";
