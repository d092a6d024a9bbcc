/**
 * connect (registry): hands each call to the registry at the URL an earlier element put in the
 * context (REGISTRY_URL), over one channel per URL kept for the element's lifetime. A call
 * without a URL fails naming what is missing. upstream: sdk pkg/registry/common/connect with
 * clientconn and dial.
 *
 *   const c = connectRegistryServer({ dialTimeoutMs: 2000 });
 *   nseChain(dnsResolveNseServer(dns), c.nse);  ...; c.close();
 */
import {
  dial,
  NsmError,
  status,
  type Ctx,
  type GrpcConn,
  type NseRegistryElement,
  type NsRegistryElement,
} from "../../../core/index.js";
import { REGISTRY_URL } from "../../keys.js";

export interface RegistryConnect {
  readonly nse: NseRegistryElement;
  readonly ns: NsRegistryElement;
  close(): void;
}

export function connectRegistryServer(o: { dialTimeoutMs?: number } = {}): RegistryConnect {
  const conns = new Map<string, GrpcConn>();
  const to = (ctx: Ctx): GrpcConn => {
    const url = ctx.get(REGISTRY_URL);
    if (!url) throw new NsmError(status.INTERNAL, "registry connect: no registry URL in the context");
    let c = conns.get(url);
    if (!c) conns.set(url, (c = dial(url, { dialTimeoutMs: o.dialTimeoutMs })));
    return c;
  };
  return {
    nse: {
      register: async (e, ctx) => to(ctx).nseRegistry.register(e, ctx),
      async *find(q, ctx) {
        yield* to(ctx).nseRegistry.find(q, ctx);
      },
      unregister: async (e, ctx) => to(ctx).nseRegistry.unregister(e, ctx),
    },
    ns: {
      register: async (e, ctx) => to(ctx).nsRegistry.register(e, ctx),
      async *find(q, ctx) {
        yield* to(ctx).nsRegistry.find(q, ctx);
      },
      unregister: async (e, ctx) => to(ctx).nsRegistry.unregister(e, ctx),
    },
    close() {
      for (const c of conns.values()) c.close();
      conns.clear();
    },
  };
}
