export * from "./svid.js";
export * from "./issuer.js";
export * from "./files.js";
export * from "./workloadapi.js";
export * from "./tls.js";
export * from "./svid-dir.js";
