export * from "./token.js";
