/**
 * Registry clients (upstream `sdk/pkg/registry/chains/client`): what an NSE, a forwarder or nsmgr uses to talk to
 * a registry. The NSE client registers, refreshes at 2/3 of the remaining lifetime, re-registers
 * when the registry restarts (heal), retries transient failures, and stops all of that on
 * Unregister. Watch Finds through it re-open their stream by themselves.
 *
 *   const c = nseRegistryClient({ url: "unix:///var/lib/networkservicemesh/nsm.io.sock", signal });
 *   const stored = await c.register(nse, newCtx({ timeoutMs: 15_000 }));
 *   ...; await c.unregister(stored, newCtx({ timeoutMs: 15_000 })); await c.close();
 */
import { sendFdNseClient } from "../common/sendfd/client.js";
import {
  dial,
  nsChain,
  nseChain,
  type NseRegistryChain,
  type NseRegistryServer,
  type NsRegistryChain,
  type NsRegistryServer,
  type RegistryChain,
  type RegistryServer,
} from "../../core/index.js";
import type { Logger } from "../../tools/log.js";
import { beginNsClient, beginNseClient } from "../common/begin/client.js";
import { healClient } from "../common/heal/client.js";
import { refreshNseClient } from "../common/refresh/client.js";
import { retryClient, type RetryOptions } from "../common/retry/client.js";
import { NS, NSE } from "../tools.js";
import { pathTokensRemote, processTokens } from "../common/updatepath/remote.js";
import { authorizeRegistryClient } from "../common/authorize/client.js";
import type { TokenGenerator } from "../../tools/token/index.js";

export interface RegistryClientOptions {
  /** the registry (or nsmgr) URL */
  url: string;
  /** lifetime of the client: refresh, heal and retries stop when it ends */
  signal: AbortSignal;
  log?: Logger;
  /** upstream default 300 ms */
  dialTimeoutMs?: number;
  retry?: RetryOptions;
  /** our token generator (default: signed with the process identity, docs/security.md) */
  tokens?: () => TokenGenerator | undefined | Promise<TokenGenerator | undefined>;
  /** the name in tokens without a process identity */
  name?: string;
  maxTokenLifetimeMs?: number;
}

export type NseRegistryClient = NseRegistryChain & { close(): Promise<void> };
export type NsRegistryClient = NsRegistryChain & { close(): Promise<void> };

function withLog<T, Q, R>(server: RegistryServer<T, Q, R>, log?: Logger): RegistryServer<T, Q, R> {
  if (!log) return server;
  return {
    register: (e, c) => server.register(e, c.with({ log })),
    find: (q, c) => server.find(q, c.with({ log })),
    unregister: (e, c) => server.unregister(e, c.with({ log })),
  };
}

/**
 * A client chain over an in-process `next`: its elements get a lifetime that ends on `close()`
 * or when `signal` does; calls without their own `next` go to `next` (with `log` attached).
 */
function clientOver<T, Q, R>(
  next: RegistryServer<T, Q, R>,
  o: { signal: AbortSignal; log?: Logger },
  elements: (life: AbortSignal) => RegistryChain<T, Q, R>,
): RegistryChain<T, Q, R> & { close(): Promise<void> } {
  const life = new AbortController();
  const stop = () => life.abort();
  o.signal.addEventListener("abort", stop, { once: true });
  const c = elements(life.signal);
  const n = withLog(next, o.log);
  return {
    register: (e, ctx, nx = n) => c.register(e, ctx, nx),
    find: (q, ctx, nx = n) => c.find(q, ctx, nx),
    unregister: (e, ctx, nx = n) => c.unregister(e, ctx, nx),
    async close() {
      o.signal.removeEventListener("abort", stop);
      life.abort();
    },
  };
}

/** The NSE client chain over an in-process `next` (no dial): begin → retry → heal → refresh. */
export function nseRegistryClientOver(
  next: NseRegistryServer,
  o: { signal: AbortSignal; log?: Logger; retry?: RetryOptions; /** default true */ refresh?: boolean },
): NseRegistryClient {
  return clientOver(next, o, (life) =>
    nseChain(
      beginNseClient({ signal: life }),
      retryClient(NSE, o.retry),
      healClient(NSE, { signal: life }),
      ...(o.refresh === false ? [] : [refreshNseClient({ signal: life })]),
    ),
  );
}

/** The NS client chain over an in-process `next`: begin → retry → heal. */
export function nsRegistryClientOver(
  next: NsRegistryServer,
  o: { signal: AbortSignal; log?: Logger; retry?: RetryOptions },
): NsRegistryClient {
  return clientOver(next, o, (life) =>
    nsChain(beginNsClient({ signal: life }), retryClient(NS, o.retry), healClient(NS, { signal: life })),
  );
}

export function nseRegistryClient(o: RegistryClientOptions): NseRegistryClient {
  const conn = dial(o.url, { dialTimeoutMs: o.dialTimeoutMs ?? 300 });
  // a unix:// URL we register leaves as inode:// with the socket fd (upstream sendfd client)
  const remote = pathTokensRemote(
    conn.nseRegistry,
    conn,
    o.tokens ?? processTokens(o.name ?? "nse", o.maxTokenLifetimeMs),
    authorizeRegistryClient(),
  );
  const c = nseRegistryClientOver(conn.fds ? sendFdNseClient(remote, conn.fds) : remote, o);
  return {
    ...c,
    async close() {
      await c.close();
      conn.close();
    },
  };
}

/** NS registry client over gRPC to `o.url`. */
export function nsRegistryClient(o: RegistryClientOptions): NsRegistryClient {
  const conn = dial(o.url, { dialTimeoutMs: o.dialTimeoutMs ?? 300 });
  const remote = pathTokensRemote(
    conn.nsRegistry,
    conn,
    o.tokens ?? processTokens(o.name ?? "nse", o.maxTokenLifetimeMs),
  );
  const c = nsRegistryClientOver(remote, o);
  return {
    ...c,
    async close() {
      await c.close();
      conn.close();
    },
  };
}
