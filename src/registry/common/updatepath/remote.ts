/**
 * The client side of the registry path (server.ts): a registry reached over gRPC gets our token
 * (`nsm-client-token`, `aud` = its SPIFFE ID on mTLS, as upstream's per-RPC credentials) and, on
 * Register/Unregister, the `path` metadata: the path of the call we serve when we forward (nsmgr →
 * registry), else an empty one (we are the first hop). The server's `path` header updates it, so
 * the hop that serves us answers its caller with the whole path.
 *
 *   const nse = pathTokensRemote(conn.nseRegistry, conn, tokens);
 */
import * as grpc from "@grpc/grpc-js";
import {
  getProcessIdentity,
  ON_RESPONSE_HEADERS,
  OUTGOING_METADATA,
  type Ctx,
  type GrpcConn,
  type RegistryServer,
} from "../../../core/index.js";
import type { X509Source } from "../../../tools/spiffe/index.js";
import { newTokenGenerator, tokenMetadata, type TokenGenerator } from "../../../tools/token/index.js";
import type { RegistryClientAuthorize } from "../authorize/client.js";
import { formatPath, parsePath, PATH_KEY, REGISTRY_PATH, type RegistryPath } from "./server.js";

type Tokens = () => TokenGenerator | undefined | Promise<TokenGenerator | undefined>;

/** tokens signed with the process identity (a new generator when it changes; per-process key without one) */
export function processTokens(name: string, maxLifetimeMs?: number): () => Promise<TokenGenerator> {
  let cached: { src: X509Source | undefined; gen: Promise<TokenGenerator> } | undefined;
  return () => {
    const src = getProcessIdentity();
    if (!cached || cached.src !== src) cached = { src, gen: newTokenGenerator({ name, maxLifetimeMs, source: src }) };
    return cached.gen;
  };
}

async function withMetadata(ctx: Ctx, conn: GrpcConn, tokens: Tokens, path?: RegistryPath): Promise<Ctx> {
  // plaintext (dev mode): no tokens and no path, as before (upstream caps a registration's expiry at
  // the registering token's: a short NSM_MAX_TOKEN_LIFETIME would shorten every registration)
  if (!conn.secure) return ctx;
  const gen = await tokens();
  if (!gen) return ctx;
  if (conn.secure && !conn.peerId()) {
    const left = Number.isFinite(ctx.deadline) ? Math.max(1, ctx.deadline - Date.now()) : undefined;
    await conn.waitReady(left).catch(() => undefined); // not ready in time: the call fails and says why
  }
  const md = tokenMetadata(await gen(conn.peerId(), { presentedSerial: conn.presentedSerial() }), new grpc.Metadata());
  const before = ctx.get(OUTGOING_METADATA);
  if (before) for (const [k, v] of Object.entries(before.getMap())) if (!md.get(k).length) md.set(k, v);
  if (!path) return ctx.withValue(OUTGOING_METADATA, md);
  md.set(PATH_KEY, formatPath(path));
  return ctx.withValue(OUTGOING_METADATA, md).withValue(ON_RESPONSE_HEADERS, (h: grpc.Metadata) => {
    const v = h.get(PATH_KEY);
    const got = parsePath(v.length ? String(v[v.length - 1]) : undefined);
    if (!got) return;
    path.Index = got.Index;
    path.PathSegments = got.PathSegments;
  });
}

/**
 * `next` (a gRPC registry client of `conn`) with tokens and the registry path; `authorize` checks
 * the path a Register brought back (client policies; a refused new registration is unregistered).
 */
export function pathTokensRemote<T extends { name: string; pathIds: string[] }, Q, R>(
  next: RegistryServer<T, Q, R>,
  conn: GrpcConn,
  tokens: Tokens,
  authorize?: RegistryClientAuthorize,
): RegistryServer<T, Q, R> {
  const pathOf = (ctx: Ctx): RegistryPath => ctx.get(REGISTRY_PATH) ?? { Index: 0, PathSegments: [] };
  return {
    async register(e, ctx) {
      const path = pathOf(ctx);
      const known = authorize?.known(e.name) ?? true;
      const res = await next.register(e, await withMetadata(ctx, conn, tokens, path));
      try {
        await authorize?.check(path, res, conn);
      } catch (err) {
        if (!known) await next.unregister(res, await withMetadata(ctx, conn, tokens, path)).catch(() => undefined);
        throw err;
      }
      return res;
    },
    async unregister(e, ctx) {
      authorize?.forget(e.name);
      await next.unregister(e, await withMetadata(ctx, conn, tokens, pathOf(ctx)));
    },
    async *find(q, ctx) {
      yield* next.find(q, await withMetadata(ctx, conn, tokens));
    },
  };
}
