/**
 * authorizeServer (upstream `sdk/pkg/networkservice/common/authorize`): on Request and Close
 * from a gRPC caller, the caller's path (segments 0..index, our own token already written by
 * updatetoken) must pass upstream's default server rules (policies.ts), the caller must own the
 * connection it refreshes or closes, and every custom Rego policy must hold. A refusal is
 * PermissionDenied naming the rule, before anything after us ran. In-process calls (no gRPC
 * caller) are not checked, as upstream checks only when a peer is in the context.
 *
 *   const owners = new ConnectionOwners();
 *   endpoint({ ..., authorize: authorizeServer({ owners }) });   // monitor: authorizeMonitor(owners)
 */
import type { Connection } from "../../../api/index.js";
import { X509Certificate } from "node:crypto";
import {
  authorizationDenied,
  callerIdentity,
  getProcessIdentity,
  type Ctx,
  type ServerElement,
} from "../../../core/index.js";
import { pemToDer, type X509Source } from "../../../tools/spiffe/index.js";
import { ConnectionOwners, DEFAULT_SERVER_RULES, type PathInput, type PathRule } from "./policies.js";

/** A custom policy (Rego compiled to wasm, src/tools/opa): true = allowed */
export interface CustomPolicy {
  readonly name: string;
  evaluate(input: unknown): Promise<boolean>;
}

export interface AuthorizeOptions {
  /** default: upstream's common + server policies */
  rules?: readonly PathRule[];
  /** shared with authorizeMonitor */
  owners?: ConnectionOwners;
  /** NSM_*_POLICIES loaded by src/tools/opa */
  custom?: readonly CustomPolicy[];
  /** our identity, for its trust bundle (default: the process identity) */
  identity?: X509Source;
}

const bundles = new Map<string, X509Certificate[]>();
function bundleOf(src: X509Source | undefined): X509Certificate[] | undefined {
  if (!src) return undefined;
  const pem = src.bundlePem();
  let b = bundles.get(pem);
  if (!b) {
    if (bundles.size > 8) bundles.clear();
    bundles.set(pem, (b = pemToDer(pem).map((d) => new X509Certificate(d))));
  }
  return b;
}

const deny = (rule: string, why: string) => authorizationDenied("networkservice", rule, why);

/** upstream's Rego input: the Path as Go's JSON has it, plus auth_info.certificate (PEM) */
function regoInput(conn: Connection, i: PathInput) {
  return {
    index: i.index,
    path_segments: i.segments.map((s) => ({ name: s.name, id: s.id, token: s.token })),
    auth_info: { certificate: i.peer?.cert.toString() ?? "" },
    spiffe_id: i.peer?.id ?? "",
    connection_id: conn.id,
  };
}

export function authorizeServer(o: AuthorizeOptions = {}): ServerElement {
  const rules = o.rules ?? DEFAULT_SERVER_RULES;
  const owners = o.owners ?? new ConnectionOwners();
  const check = async (conn: Connection, ctx: Ctx): Promise<string | undefined> => {
    const peer = callerIdentity(ctx, "networkservice");
    if (!peer) return undefined;
    const p = conn.path;
    const index = p?.index ?? 0;
    const input: PathInput = {
      segments: (p?.pathSegments ?? []).slice(0, index + 1),
      index,
      peer,
      now: Date.now(),
      bundle: bundleOf(o.identity ?? getProcessIdentity()),
    };
    for (const r of rules) {
      const why = await r.check(input);
      if (why) throw deny(r.name, why);
    }
    const owner = owners.owner(conn.id);
    if (owner && owner !== peer.id)
      throw deny("connection_owner", `connection ${conn.id} belongs to ${owner}, not to ${peer.id}`);
    for (const c of o.custom ?? [])
      if (!(await c.evaluate(regoInput(conn, input)))) throw deny(c.name, `policy is not satisfied for ${peer.id}`);
    return peer.id;
  };
  return {
    async request(req, ctx, next) {
      const conn = req.connection!;
      const caller = await check(conn, ctx);
      const res = await next.request(req, ctx);
      if (caller) {
        const prev = res.path?.pathSegments[(res.path?.index ?? 0) - 1]?.id;
        owners.set(res.id, caller, prev ? [prev] : []);
      }
      return res;
    },
    async close(conn, ctx, next) {
      const caller = await check(conn, ctx);
      await next.close(conn, ctx);
      if (caller) owners.release(conn.id);
    },
  };
}
