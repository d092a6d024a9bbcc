/**
 * A vL3 endpoint's prefix subscription (upstream cmd-nse-vl3-vpp's prefix client): one
 * `ManagePrefixes` stream to the IPAM service, asking ALLOCATE with the prefix it had before (or
 * none). Every answer that differs from the last is handed to `onPrefix`; when the stream breaks
 * it dials again (every 200 ms) and asks for the same prefix, so a restarted IPAM service gives
 * the endpoint its prefix back if it is still free.
 *
 *   const sub = subscribePrefix({ url: "tcp://127.0.0.1:5006", signal, onPrefix: (p, ex) => pool.reset(p, ex) });
 *   await sub.first; // the first prefix
 */
import * as grpc from "@grpc/grpc-js";
import {
  create,
  IpamDef,
  IpamType,
  PrefixRequestSchema,
  type PrefixRequest,
  type PrefixResponse,
} from "../../api/index.js";
import { type Logger, silentLogger } from "../../tools/log.js";
import { dialTarget, parseUrl } from "../../tools/url.js";

export interface PrefixSubscription {
  /** resolves with the first prefix */
  readonly first: Promise<string>;
  /** the current prefix, if any */
  readonly prefix: string | undefined;
}

const IpamClient = grpc.makeGenericClientConstructor(IpamDef as unknown as grpc.ServiceDefinition, "IPAM");

/** `host:port` without a scheme (upstream's `vl3-ipam:5006`) is read as tcp. */
export function prefixServerUrl(s: string): string {
  return /^[a-z]+:\/\//.test(s) ? parseUrl(s).href : parseUrl(`tcp://${s}`).href;
}

export function subscribePrefix(o: {
  url: string;
  signal: AbortSignal;
  onPrefix: (prefix: string, excludePrefixes: string[]) => void;
  log?: Logger;
  /** pause before dialling again after the stream broke (default 200 ms) */
  retryMs?: number;
}): PrefixSubscription {
  const log = (o.log ?? silentLogger).child({ ipam: o.url });
  let current: string | undefined;
  let last = "";
  let resolveFirst!: (p: string) => void;
  const first = new Promise<string>((r) => (resolveFirst = r));
  const client = new IpamClient(dialTarget(parseUrl(prefixServerUrl(o.url))), grpc.credentials.createInsecure());
  o.signal.addEventListener("abort", () => client.close(), { once: true });

  const once = () =>
    new Promise<void>((done) => {
      const call = (
        client as unknown as { managePrefixes(): grpc.ClientDuplexStream<PrefixRequest, PrefixResponse> }
      ).managePrefixes();
      const stop = () => call.cancel();
      o.signal.addEventListener("abort", stop, { once: true });
      const end = () => {
        o.signal.removeEventListener("abort", stop);
        done();
      };
      call.on("data", (res: PrefixResponse) => {
        const key = `${res.prefix} ${res.excludePrefixes.join(",")}`;
        if (key === last) return;
        last = key;
        current = res.prefix;
        log.info({ prefix: res.prefix, exclude: res.excludePrefixes }, "prefix from the IPAM service");
        o.onPrefix(res.prefix, [...res.excludePrefixes]);
        resolveFirst(res.prefix);
      });
      call.on("error", (e: Error) => {
        if (!o.signal.aborted) log.warn({ err: e.message }, "IPAM stream broke; asking again");
        end();
      });
      call.on("end", end);
      call.write(create(PrefixRequestSchema, { type: IpamType.ALLOCATE, prefix: current ?? "" }));
    });

  void (async () => {
    while (!o.signal.aborted) {
      await once();
      if (o.signal.aborted) break;
      await new Promise((r) => setTimeout(r, o.retryMs ?? 200));
    }
  })();
  return {
    first,
    get prefix() {
      return current;
    },
  };
}
