/**
 * The one door to @kubernetes/client-node: loads the Node-20 shims first (node-compat.ts),
 * then re-exports the client. Every module (and test) imports the client from here.
 */
import "./node-compat.js";

export * from "@kubernetes/client-node";
