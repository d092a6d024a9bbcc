/**
 * The vL3 IPAM service (upstream cmd-ipam-vl3 over `sdk/pkg/ipam/vl3ipam`): `ipam.IPAM/ManagePrefixes`
 * is one long-lived bidi stream per vL3 endpoint. ALLOCATE hands out the requested prefix if it
 * is still free, else the lowest free block of `clientPrefixLen` (never one overlapping the
 * request's exclude_prefixes), and answers `{prefix, exclude_prefixes}`; DELETE gives a prefix of
 * this stream back (no answer); when the stream ends every prefix it got goes back to the pool.
 *
 *   const srv = await serveIpam({ listenOn: ["tcp://127.0.0.1:0"], prefix: "172.16.0.0/16", clientPrefixLen: 24 });
 *   // first stream: 172.16.0.0/24, second: 172.16.1.0/24
 */
import * as grpc from "@grpc/grpc-js";
import { create, IpamDef, PrefixResponseSchema, type PrefixRequest, type PrefixResponse } from "../../api/index.js";
import { IpamType } from "../../api/index.js";
import { type Logger, silentLogger } from "../../tools/log.js";
import { listenTarget, parseUrl, type NsmUrl } from "../../tools/url.js";
import { NsmError, status } from "../../core/index.js";
import { parseAll, PrefixPool } from "../utils/prefixpool.js";

export interface IpamOptions {
  /** NSM_PREFIX: the pool, e.g. 172.16.0.0/16 */
  prefix: string;
  /** NSM_CLIENT_PREFIX_LEN: the length of each endpoint's block, e.g. 24 */
  clientPrefixLen: number;
  /** never handed out (ours; upstream's service has its own exclusions on top of the request's) */
  excludePrefixes?: readonly string[];
  log?: Logger;
}

/** The stream handler, usable without a server (tests). */
export function ipamService(o: IpamOptions) {
  const excluded = parseAll(o.excludePrefixes ?? []);
  const pool = new PrefixPool(o.prefix, excluded);
  const log = o.log ?? silentLogger;
  if (o.clientPrefixLen < pool.prefix.len || o.clientPrefixLen > (pool.v6 ? 128 : 32))
    throw new NsmError(
      status.INVALID_ARGUMENT,
      `client prefix length ${o.clientPrefixLen} does not fit in the pool ${o.prefix}`,
    );
  let streams = 0;
  return {
    pool,
    get streams() {
      return streams;
    },
    /** one ALLOCATE/DELETE on a stream holding `mine`; the response to send, if any */
    handle(req: PrefixRequest, mine: Set<string>): PrefixResponse | undefined {
      if (req.type === IpamType.ALLOCATE) {
        const exclude = parseAll(req.excludePrefixes);
        // the stream's own prefix again (refresh): keep it
        if (req.prefix && mine.has(req.prefix))
          return create(PrefixResponseSchema, {
            prefix: req.prefix,
            excludePrefixes: [...req.excludePrefixes, ...(o.excludePrefixes ?? [])],
          });
        const got = pool.allocate(o.clientPrefixLen, { want: req.prefix || undefined, exclude });
        if (!got)
          throw new NsmError(
            status.RESOURCE_EXHAUSTED,
            `no free /${o.clientPrefixLen} left in ${o.prefix} (excluding ${req.excludePrefixes.join(", ") || "nothing"})`,
          );
        mine.add(got);
        log.info({ prefix: got, asked: req.prefix || undefined }, "prefix allocated");
        return create(PrefixResponseSchema, {
          prefix: got,
          excludePrefixes: [...req.excludePrefixes, ...(o.excludePrefixes ?? [])],
        });
      }
      if (req.type === IpamType.DELETE) {
        if (mine.delete(req.prefix) && pool.release(req.prefix)) log.info({ prefix: req.prefix }, "prefix released");
        return undefined;
      }
      throw new NsmError(status.INVALID_ARGUMENT, `request type is undefined (${req.type})`);
    },
    /** the stream ended: everything it held goes back */
    end(mine: Set<string>) {
      for (const p of mine) if (pool.release(p)) log.info({ prefix: p }, "prefix released (stream ended)");
      mine.clear();
    },
    opened() {
      streams++;
    },
    closed() {
      streams--;
    },
  };
}

export interface IpamServer {
  readonly urls: readonly NsmUrl[];
  readonly service: ReturnType<typeof ipamService>;
  close(): Promise<void>;
}

export async function serveIpam(o: IpamOptions & { listenOn: readonly string[] }): Promise<IpamServer> {
  const svc = ipamService(o);
  const log = o.log ?? silentLogger;
  const server = new grpc.Server();
  server.addService(IpamDef as unknown as grpc.ServiceDefinition, {
    managePrefixes: (call: grpc.ServerDuplexStream<PrefixRequest, PrefixResponse>) => {
      const mine = new Set<string>();
      svc.opened();
      let done = false;
      const finish = (err?: NsmError) => {
        if (done) return;
        done = true;
        svc.end(mine);
        svc.closed();
        if (err) call.destroy(Object.assign(new Error(err.message), { code: err.code }));
        else call.end();
      };
      call.on("data", (req: PrefixRequest) => {
        try {
          const res = svc.handle(req, mine);
          if (res) call.write(res);
        } catch (e) {
          const err = NsmError.from(e);
          log.warn({ err: err.message }, "ManagePrefixes: request refused");
          finish(err);
        }
      });
      call.on("end", () => finish());
      call.on("error", () => finish());
      call.on("cancelled", () => finish());
      call.on("close", () => finish());
    },
  });
  const urls: NsmUrl[] = [];
  try {
    for (const l of o.listenOn) {
      const u = parseUrl(l);
      const port = await new Promise<number>((res, rej) =>
        server.bindAsync(listenTarget(u), grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
      );
      urls.push(
        u.scheme === "unix"
          ? u
          : parseUrl(`tcp://${u.host.includes(":") ? `[${u.host}]` : u.host || "0.0.0.0"}:${port}`),
      );
    }
  } catch (e) {
    server.forceShutdown();
    throw e;
  }
  return {
    urls,
    service: svc,
    close: () =>
      new Promise<void>((r) => {
        server.forceShutdown();
        r();
      }),
  };
}
