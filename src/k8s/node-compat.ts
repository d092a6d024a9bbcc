/**
 * Lets @kubernetes/client-node load on Node 20. Its HTTP client (undici 8) binds
 * `zlib.createZstdDecompress` when it loads, which Node has only from 22.15 on; on older Node
 * the name is missing and the import throws. We define it to fail when called: the API server
 * never answers with zstd unless asked. Import this module before client-node.
 */
import wt from "node:worker_threads";
import zlib from "node:zlib";

const z = zlib as unknown as Record<string, unknown>;
if (typeof z.createZstdDecompress !== "function") {
  z.createZstdDecompress = () => {
    throw new Error(`zstd decompression needs Node >= 22.15 (this is ${process.version})`);
  };
}
if (typeof z.createZstdCompress !== "function") {
  z.createZstdCompress = () => {
    throw new Error(`zstd compression needs Node >= 22.15 (this is ${process.version})`);
  };
}
// Node >= 22.10: marks web objects as not transferable; nothing is transferred here
const w = wt as unknown as Record<string, unknown>;
if (typeof w.markAsUncloneable !== "function") w.markAsUncloneable = () => {};
// Node >= 22: undici's fetch uses Promise.withResolvers
const P = Promise as unknown as { withResolvers?: unknown };
if (typeof P.withResolvers !== "function") {
  P.withResolvers = function withResolvers<T>() {
    let resolve!: (v: T | PromiseLike<T>) => void, reject!: (e: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
