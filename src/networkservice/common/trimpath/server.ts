/**
 * trimPathServer: an endpoint returns a path that ends at itself, even if the request carried
 * more segments; a passthrough (a trimPathClient deeper in the same process marks it) returns
 * the whole downstream path.
 */
import type { ServerElement } from "../../../core/index.js";
import { TRIM, type TrimMarker } from "../../utils/keys.js";

export function trimPathServer(): ServerElement {
  return {
    async request(req, ctx, next) {
      const mark: TrimMarker = { keep: false };
      const conn = await next.request(req, ctx.withValue(TRIM, mark));
      if (!mark.keep && conn.path && conn.path.pathSegments.length > conn.path.index + 1) {
        conn.path.pathSegments = conn.path.pathSegments.slice(0, conn.path.index + 1);
      }
      return conn;
    },
  };
}
