/** clientUrlServer: the next hop is `url` (overrides whatever an earlier element chose, as upstream). */
import type { ServerElement } from "../../../core/index.js";
import { CLIENT_URL } from "../../utils/keys.js";

export function clientUrlServer(url: string | undefined): ServerElement {
  return {
    request: (req, ctx, next) => next.request(req, ctx.withValue(CLIENT_URL, url)),
    close: (conn, ctx, next) => next.close(conn, ctx.withValue(CLIENT_URL, url)),
  };
}
