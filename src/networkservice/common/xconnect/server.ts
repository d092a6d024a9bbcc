/**
 * xconnectServer (forwarder): the client-side mechanism is chosen from the caller's preferences
 * among those the datapath backend supports; the next hop is offered the backend's own
 * preferences; once the next hop answered, the backend plumbs the cross connect. The caller gets
 * the downstream connection back with its own mechanism. A failed plumbing closes the downstream
 * connection again; Close removes the plumbing, then closes downstream with its mechanism.
 * (upstream: the forwarder's mechanisms + mechanismtranslation + xconnect elements.)
 */
import {
  clone,
  ConnectionSchema,
  type Connection,
  MechanismSchema,
  NetworkServiceRequestSchema,
  type Mechanism,
} from "../../../api/index.js";
import { commonKeys } from "../../../api/index.js";
import { detach, messageOf, metaKey, NsmError, status, type Ctx, type ServerElement } from "../../../core/index.js";
import type { CrossConnect, DatapathBackend } from "../../../forwarder/backend.js";
import { CLIENT_URL } from "../../utils/keys.js";

const XC = metaKey<CrossConnect>("xconnect/cross-connect");

export interface XconnectOptions {
  /** is the next hop at `url` another node's nsmgr (REMOTE mechanisms) rather than a local NSE? default: never */
  isRemote?: (url: string, ctx: Ctx, conn: Connection) => boolean | Promise<boolean>;
}

/**
 * The NSE's previous answer, to send again on refresh and Close. An `inode://` inodeURL in it
 * names an fd the NSE sent once; we do not send it back (our recvfd client turned a received
 * one into a file of ours, which sendfd sends again), so a peer's recvfd would wait for an fd
 * that never comes. upstream sends back its file:// URL through sendfd; without fd passing it
 * leaves the key out, as we do here.
 */
function previous(m: Mechanism | undefined): Mechanism | undefined {
  if (!m) return undefined;
  const out = clone(MechanismSchema, m);
  if (out.parameters[commonKeys.INODE_URL]?.startsWith("inode://")) delete out.parameters[commonKeys.INODE_URL];
  return out;
}

export function xconnectServer(backend: DatapathBackend, o: XconnectOptions = {}): ServerElement {
  const supported = new Set([...backend.mechanisms.local, ...backend.mechanisms.remote]);
  const list = [...supported].join(", ");
  return {
    async request(req, ctx, next) {
      const conn = req.connection!;
      const prev = ctx.meta.get(XC);
      let mech: Mechanism | undefined = conn.mechanism;
      if (mech && !supported.has(mech.type)) {
        throw new NsmError(
          status.INVALID_ARGUMENT,
          `forwarder (${backend.name} datapath): unsupported mechanism ${mech.type} (supported: ${list})`,
        );
      }
      mech ??= req.mechanismPreferences.find((m) => supported.has(m.type));
      if (!mech) {
        throw new NsmError(
          status.INVALID_ARGUMENT,
          `forwarder (${backend.name} datapath): cannot support any of the requested mechanisms [${req.mechanismPreferences.map((m) => m.type).join(", ")}] (supported: ${list})`,
        );
      }
      conn.mechanism = clone(MechanismSchema, mech);
      const incoming = clone(ConnectionSchema, conn);

      const out = clone(NetworkServiceRequestSchema, req);
      const url = ctx.get(CLIENT_URL) ?? "";
      out.connection!.mechanism = previous(prev?.outgoing.mechanism);
      out.mechanismPreferences = backend.outgoingPreferences(incoming, {
        remote: (await o.isRemote?.(url, ctx, out.connection!)) ?? false,
      });
      const result = await next.request(out, ctx);

      const x: CrossConnect = { id: incoming.id, incoming, outgoing: clone(ConnectionSchema, result) };
      try {
        await backend.apply(x, ctx);
      } catch (e) {
        ctx.log.warn({ connId: x.id, err: messageOf(e) }, "xconnect: datapath failed, closing the next hop");
        if (!prev) await next.close(result, detach(ctx, new AbortController().signal)).catch(() => undefined);
        throw new NsmError(status.INTERNAL, `forwarder (${backend.name} datapath): ${messageOf(e)}`, { cause: e });
      }
      ctx.meta.set(XC, x);
      result.mechanism = clone(MechanismSchema, incoming.mechanism!);
      if (backend.metrics) {
        const seg = result.path?.pathSegments.find((s) => s.id === x.id);
        const m = seg && (await backend.metrics(x).catch(() => undefined));
        if (seg && m) Object.assign(seg.metrics, m);
      }
      return result;
    },
    async close(conn, ctx, next) {
      const x = ctx.meta.get(XC);
      ctx.meta.delete(XC);
      if (!x) return next.close(conn, ctx);
      try {
        await backend.remove(x, ctx);
      } catch (e) {
        ctx.log.warn({ connId: x.id, err: messageOf(e) }, "xconnect: datapath remove failed");
      }
      const down = clone(ConnectionSchema, conn);
      down.mechanism = previous(x.outgoing.mechanism);
      return next.close(down, ctx);
    },
  };
}
