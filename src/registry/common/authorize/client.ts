/**
 * authorize (registry client; upstream `sdk/pkg/registry/common/authorize` client with
 * NSM_REGISTRY_CLIENT_POLICIES, default etc/nsm/opa/{common,registry,client}): after an mTLS
 * registry (or nsmgr) answered a Register, the registry path it sent back must hold tokens that
 * are JWTs (tokens_valid), not expired (tokens_expired), chained (tokens_chained), the server's
 * segment must be signed by the server we talked to (next_token_signed), and a name keeps the
 * first path id it was registered with (registry_client_allowed); custom Rego policies get
 * upstream's input. A refused new registration is unregistered; the caller gets PermissionDenied
 * naming the rule. Plaintext registries are not checked.
 */
import { authorizationDenied, type GrpcConn } from "../../../core/index.js";
import { decodeToken, verifyWithCertificate } from "../../../tools/token/index.js";
import type { RegistryPolicy } from "./server.js";

interface PathLike {
  Index: number;
  PathSegments: { token: string }[] | null;
}

const auds = (a: string | string[] | undefined) => (a === undefined ? [] : Array.isArray(a) ? a : [a]);

export interface RegistryClientAuthorize {
  /** throws PermissionDenied naming the rule; records the name's path ids when allowed */
  check(path: PathLike, entry: { name: string; pathIds: string[] }, conn: GrpcConn): Promise<void>;
  forget(name: string): void;
  /** whether `name` was registered (and allowed) before */
  known(name: string): boolean;
}

export function authorizeRegistryClient(o: { custom?: readonly RegistryPolicy[] } = {}): RegistryClientAuthorize {
  const pathIds = new Map<string, string[]>();
  const deny = (rule: string, why: string) => authorizationDenied("registry", rule, why);
  return {
    forget: (name) => void pathIds.delete(name),
    known: (name) => pathIds.has(name),
    async check(path, entry, conn) {
      const cert = conn.peerCertificate();
      if (!conn.secure || !cert) return;
      const segs = path.PathSegments ?? [];
      const claims = segs.map((s) => decodeToken(s.token));
      for (const [n, c] of claims.entries()) {
        if (!c) throw deny("tokens_valid", `registry path segment ${n} token is not a JWT`);
        if (c.exp === undefined || c.exp * 1000 <= Date.now())
          throw deny("tokens_expired", `registry path segment ${n} token expired`);
      }
      for (let n = 0; n + 1 < claims.length; n++)
        if (!claims[n + 1]!.sub || !auds(claims[n]!.aud).includes(claims[n + 1]!.sub!))
          throw deny(
            "tokens_chained",
            `registry path segment ${n} token's aud ${JSON.stringify(auds(claims[n]!.aud))} does not name segment ${n + 1}'s sub ${JSON.stringify(claims[n + 1]!.sub ?? "")}`,
          );
      const next = segs[path.Index + 1];
      if (!next) throw deny("next_token_signed", `registry path has no segment ${path.Index + 1} of the server`);
      try {
        await verifyWithCertificate(next.token, cert);
      } catch (e) {
        throw deny(
          "next_token_signed",
          `registry path segment ${path.Index + 1} token is not signed by the server ${conn.peerId() ?? ""}: ${(e as Error).message}`,
        );
      }
      const resourceId = claims[0]?.sub ?? "";
      const owner = pathIds.get(entry.name)?.[0];
      if (owner !== undefined && owner !== resourceId)
        throw deny("registry_client_allowed", `"${entry.name}" was registered by ${owner}, not ${resourceId}`);
      const input = {
        resource_id: resourceId,
        resource_name: entry.name,
        resource_path_ids_map: Object.fromEntries(pathIds),
        path_segments: segs.map((s) => ({ token: s.token })),
        index: path.Index,
      };
      for (const p of o.custom ?? [])
        if (!(await p.evaluate(input)))
          throw deny(p.name, `policy is not satisfied for ${resourceId} (register "${entry.name}")`);
      pathIds.set(entry.name, [...entry.pathIds]);
    },
  };
}
