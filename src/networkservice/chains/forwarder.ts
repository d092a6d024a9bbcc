/**
 * The forwarder chain, control-plane half (the forwarder of upstream
 * `sdk/pkg/tools/sandbox/node.go` and cmd-forwarder-* `internal/xconnectns`):
 * an endpoint that discovers the NSE (through its nsmgr's registry), tries candidates round
 * robin, agrees on mechanisms and lets the datapath backend plumb the cross connect.
 */
import { statSync } from "node:fs";
import type { DatapathBackend } from "../../forwarder/backend.js";
import { create, NetworkServiceEndpointQuerySchema } from "../../api/index.js";
import { messageOf, newCtx, type Ctx, type NseRegistryServer } from "../../core/index.js";
import { REGISTERED_HERE_URL } from "../../registry/tools.js";
import type { TokenGenerator } from "../../tools/token/index.js";
import { connectServer } from "../common/connect/server.js";
import type { ChannelPool } from "../common/dial/pool.js";
import { discoverServer } from "../common/discover/server.js";
import { recvFdClient } from "../common/mechanisms/recvfd/client.js";
import { recvFdServer } from "../common/mechanisms/recvfd/server.js";
import { sendFdClient } from "../common/mechanisms/sendfd/client.js";
import { sendFdServer } from "../common/mechanisms/sendfd/server.js";
import { roundRobinServer } from "../common/roundrobin/server.js";
import { xconnectServer, type XconnectOptions } from "../common/xconnect/server.js";
import type { RegistryLookup } from "../utils/registry.js";
import { findNses } from "../utils/registry.js";
import { passthroughClient } from "./client.js";
import { endpoint, type Endpoint } from "./endpoint.js";

export interface ForwarderOptions {
  name: string;
  tokens: TokenGenerator;
  signal: AbortSignal;
  /** the nsmgr's registry, where NSEs are found */
  registry: RegistryLookup;
  /** the nsmgr's NSE registry itself (not a cache): asked whether an NSE was registered through it */
  nsmgr?: Pick<NseRegistryServer, "find">;
  backend: DatapathBackend;
  pool: ChannelPool;
  /** default: {@link servedElsewhere} */
  isRemote?: XconnectOptions["isRemote"];
  /** NSM_NSNAME: the service forwarders register under (default "forwarder") */
  forwarderService?: string;
}

/**
 * Whether the NSE `name` was registered through the nsmgr behind `nsmgr` (its localbypass
 * answers: see REGISTERED_HERE_URL); undefined when that nsmgr does not answer the question.
 */
export async function registeredHere(
  nsmgr: Pick<NseRegistryServer, "find">,
  name: string,
  ctx: Ctx,
): Promise<boolean | undefined> {
  const q = create(NetworkServiceEndpointQuerySchema, {
    networkServiceEndpoint: { name, url: REGISTERED_HERE_URL },
  });
  let here: boolean | undefined;
  // a context of its own: none of the Request's call metadata (tokens, trace) goes to the registry
  const own = newCtx({ signal: ctx.signal, deadline: ctx.deadline, log: ctx.log });
  for await (const r of nsmgr.find(q, own)) {
    const nse = r.networkServiceEndpoint;
    if (nse?.url === REGISTERED_HERE_URL && nse.name === name) here = !r.deleted;
  }
  return here;
}

/**
 * Local or remote is decided by who serves the NSE, not by its URL's scheme: an NSE is local
 * exactly when it was registered through our own nsmgr, which our nsmgr answers when asked
 * (`nsmgr`; {@link registeredHere}). Everything else is reached through another nsmgr or an
 * nsmgr-proxy (another domain): remote. An nsmgr that does not answer (upstream's) publishes
 * an NSE registered through another node's nsmgr under that nsmgr's URL, the same URL the
 * forwarders of that node are published under (localbypass), and hands out the real URL of its
 * own NSEs: there the next hop is remote when it is the URL of some forwarder's nsmgr.
 * upstream (filtermechanisms) looks at the scheme, which coincides because its NSEs always
 * serve on unix sockets; ours may serve on tcp on the same node.
 */
export function servedElsewhere(
  registry: RegistryLookup,
  forwarderService = "forwarder",
  nsmgr?: Pick<NseRegistryServer, "find">,
): XconnectOptions["isRemote"] {
  // "ours" per (name, URL as the nsmgr hands it out), sparing a Find per local Request and refresh:
  // an NSE that registers elsewhere comes back under another URL. "Not ours" is asked again each
  // time: a URL of a received fd (unix:///proc/self/fd/N) may come back for another registration.
  const answers = new Map<string, boolean | undefined>();
  return async (url, ctx, conn) => {
    const name = conn?.networkServiceEndpointName;
    const key = `${name}\n${url}`;
    let here = answers.get(key);
    if (nsmgr && name && !answers.has(key)) {
      try {
        here = await registeredHere(nsmgr, name, ctx);
        if (answers.size >= 4096) answers.delete(answers.keys().next().value!);
        if (here !== false) answers.set(key, here);
      } catch (e) {
        // the question failed (nsmgr restarting): judge by the URL this time, ask again next time
        ctx.log.debug({ nse: name, err: messageOf(e) }, "forwarder: nsmgr did not say whether it registered the NSE");
      }
    }
    if (here !== undefined) return !here;
    const fwds = await findNses(registry, { networkServiceNames: [forwarderService] }, ctx);
    const id = identity(url);
    return fwds.some((f) => f.url === url || (id !== undefined && identity(f.url) === id));
  };
}

/** A unix URL's socket identity ("dev:ino"): the same socket may reach us as different fds. */
function identity(url: string): string | undefined {
  if (!url.startsWith("unix://")) return undefined;
  try {
    const st = statSync(url.slice("unix://".length), { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

export function forwarder(o: ForwarderOptions): Endpoint {
  return endpoint({
    name: o.name,
    tokens: o.tokens,
    signal: o.signal,
    extra: [
      // before xconnect: the answer we send back carries the caller's mechanism (its netns URL
      // swapped back to the inode it sent), never the NSE-side one
      sendFdServer(),
      recvFdServer(), // the client's netns arrives as an fd on unix sockets
      discoverServer(o.registry),
      roundRobinServer(),
      xconnectServer(o.backend, { isRemote: o.isRemote ?? servedElsewhere(o.registry, o.forwarderService, o.nsmgr) }),
      connectServer(
        passthroughClient({
          name: o.name,
          tokens: o.tokens,
          pool: o.pool,
          extra: [recvFdClient(), sendFdClient()], // the NSE's netns comes back as an fd
        }),
      ),
    ],
  });
}
