/**
 * The one door to @kubernetes/client-node: every module (and test) imports the client from here,
 * so a change of client version or of how it is loaded happens in one place. Pinned to the 1.x
 * line: 2.x brings undici 8, which needs Node >= 22 (we support Node 20).
 */
export * from "@kubernetes/client-node";
