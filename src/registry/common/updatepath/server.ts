/**
 * updatepath (registry; upstream `sdk/pkg/registry/common/grpcmetadata` + `updatepath`): the
 * registry's path of tokens, as upstream carries it beside Register/Unregister: JSON
 * `{"Index":n,"PathSegments":[{"token":"..."}]}` in the `path` request metadata, the updated path
 * back in the `path` response header. A server puts the caller's token (`nsm-client-token`) in the
 * caller's segment and its own token, signed for the caller, in the next one, and sets the entry's
 * `path_ids` (the SPIFFE IDs of those segments' `sub`); upstream's authorize policies
 * (tokens_chained, prev_token_signed, next_token_signed, client_allowed on path_ids[0]) read them.
 * A hop that forwards (nsmgr → registry) sends the path on with its own index (remote.ts).
 *
 *   nseChain(updatePathNseServer({ tokens }), authorizeNseServer(), ...)
 */
import * as grpc from "@grpc/grpc-js";
import type { NetworkService, NetworkServiceEndpoint } from "../../../api/index.js";
import {
  ctxKey,
  INCOMING,
  type Ctx,
  type NseRegistryElement,
  type NsRegistryElement,
  type RegistryElement,
} from "../../../core/index.js";
import { peerIdentity } from "../../../tools/spiffe/index.js";
import { decodeToken, incomingToken, type TokenGenerator } from "../../../tools/token/index.js";

export const PATH_KEY = "path";

/** upstream's grpcmetadata.Path, field names as its JSON encoding has them */
export interface RegistryPath {
  Index: number;
  PathSegments: { token: string }[] | null;
}

/** the registry path of the call being served (read by a forwarding client, authorize) */
export const REGISTRY_PATH = ctxKey<RegistryPath>("registry/path");

export function parsePath(v: string | undefined): RegistryPath | undefined {
  if (v === undefined) return undefined;
  try {
    const p = JSON.parse(v) as Partial<RegistryPath>;
    const segs = Array.isArray(p.PathSegments)
      ? p.PathSegments.map((s) => ({ token: typeof s?.token === "string" ? s.token : "" }))
      : null;
    return { Index: typeof p.Index === "number" && p.Index >= 0 ? p.Index : 0, PathSegments: segs };
  } catch {
    return undefined;
  }
}

export const formatPath = (p: RegistryPath): string => JSON.stringify(p);

/**
 * Upstream's path update: an empty path gets the caller's segment and ours (index 1); otherwise
 * the caller's segment (Index) takes its new token and ours follows (appended on the first call,
 * replaced on a refresh). Returns the caller's index, to be restored in the reply.
 */
export function updatePath(p: RegistryPath, peerTok: string, tok: string): number {
  const segs = (p.PathSegments ??= []);
  if (segs.length === 0) {
    segs.push({ token: peerTok }, { token: tok });
    p.Index = 1;
    return 0;
  }
  if (p.Index + 1 > segs.length)
    throw new RangeError(`registry path: Index+1 = ${p.Index + 1} is beyond its ${segs.length} segments`);
  const callerIndex = p.Index;
  segs[callerIndex]!.token = peerTok;
  p.Index++;
  if (p.Index < segs.length) segs[p.Index]!.token = tok;
  else segs.push({ token: tok });
  return callerIndex;
}

function setPathId(ids: string[], i: number, id: string) {
  if (i >= ids.length) ids.push(id);
  else ids[i] = id;
}

export interface UpdatePathOptions {
  /** our token generator (its `sub` is our path id); undefined: no path kept (no tokens at all) */
  tokens: () => TokenGenerator | undefined | Promise<TokenGenerator | undefined>;
}

function element<T extends NetworkService | NetworkServiceEndpoint, Q, R>(
  o: UpdatePathOptions,
): RegistryElement<T, Q, R> {
  const around = async <X>(e: T, ctx: Ctx, call: (ctx: Ctx) => Promise<X>): Promise<X> => {
    const inc = ctx.get(INCOMING);
    const tokens = inc && (await o.tokens());
    if (!inc || !tokens) return call(ctx);
    const sent = inc.metadata.get(PATH_KEY);
    const path = parsePath(sent.length ? String(sent[sent.length - 1]) : undefined);
    const p: RegistryPath = path ?? { Index: 0, PathSegments: [] };
    const peerTok = incomingToken(inc.metadata)?.token ?? "";
    const peer = peerIdentity(inc.peerCertificate);
    const tok = (await tokens(peer?.id, peer ? { peerNotAfter: new Date(peer.cert.validTo) } : {})).token;
    const callerIndex = updatePath(p, peerTok, tok);
    setPathId(e.pathIds, p.Index - 1, decodeToken(peerTok)?.sub ?? "");
    setPathId(e.pathIds, p.Index, tokens.subject);
    const res = await call(ctx.withValue(REGISTRY_PATH, p));
    p.Index = callerIndex;
    // as upstream: the header only answers a caller that sent a path
    if (path) {
      const md = new grpc.Metadata();
      md.set(PATH_KEY, formatPath(p));
      inc.sendHeaders(md);
    }
    return res;
  };
  return {
    register: (e, ctx, next) => around(e, ctx, (c) => next.register(e, c)),
    unregister: (e, ctx, next) => around(e, ctx, (c) => next.unregister(e, c)),
  };
}

export const updatePathNseServer = (o: UpdatePathOptions): NseRegistryElement => element(o);
export const updatePathNsServer = (o: UpdatePathOptions): NsRegistryElement => element(o);
